// SPDX-License-Identifier: GPL-3.0-or-later
pragma solidity ^0.8.24;

/// @title Factory of Groth16 verifiers of the fixed form
/// @notice Deploys one `Groth16Verifier` per verification key (idempotent per key hash). The
///         registries accept only verifiers this factory made, so a verifier is never arbitrary code.
interface IVerifierFactory {
    /// @notice Thrown by `deploy` when the key has fewer than 16 words or an odd IC part.
    error VerifierFactoryKeyLength(uint256 words);

    /// @notice Thrown by `deploy` when a key word is not below the BN254 base field modulus q.
    error VerifierFactoryKeyWordNotInField(uint256 index, uint256 word);

    /// @notice Thrown by `deploy` when the key does not fit in one data contract.
    error VerifierFactoryKeyTooLarge(uint256 words, uint256 maxWords);

    /// @notice Thrown by `deploy` when the data contract could not be created.
    error VerifierFactoryDataDeployFailed();

    /// @notice A verifier was deployed for the key of hash `vkHash`, with `publicInputs` inputs.
    event VerifierDeployed(address indexed verifier, bytes32 indexed vkHash, uint256 publicInputs);

    /// @notice Deploy (or return the existing) verifier of the key `vk`.
    /// @param vk alpha1.x, alpha1.y, beta2 (4 words, EVM order x1, x0, y1, y0), gamma2 (4), delta2
    ///        (4), then the IC points (2 words each, publicInputCount + 1 of them).
    /// @return verifier The verifier's address (the same for the same key, whoever calls).
    function deploy(uint256[] calldata vk) external returns (address verifier);

    /// @notice Whether `verifier` was deployed by this factory.
    function isVerifier(address verifier) external view returns (bool);

    /// @notice The verifier of the key with hash `vkHash` (zero if none).
    function verifierOf(bytes32 vkHash) external view returns (address);
}
