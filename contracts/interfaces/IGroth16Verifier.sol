// SPDX-License-Identifier: GPL-3.0-or-later
pragma solidity ^0.8.24;

/// @title Groth16 verifier of the fixed form (BN254)
/// @notice One generic contract: its verification key is stored in a data contract (SSTORE2) and
///         read with extcodecopy. Only instances made by `VerifierFactory` are trusted by the
///         registries.
interface IGroth16Verifier {
    /// @notice Whether `proof` is a valid Groth16 proof for `publicInputs` under this key.
    /// @dev Never reverts: false for a wrong proof, a wrong input count, an input >= r, a proof
    ///      coordinate >= q or a G1 point off the curve. A proof whose b is not a valid G2 point
    ///      makes the pairing precompile fail, which consumes the gas forwarded to it (the caller's
    ///      63/64); the result is still false.
    /// @param proof a.x, a.y, b.x1, b.x0, b.y1, b.y0, c.x, c.y (snarkjs / groth16py order, b in
    ///        EVM pairing order).
    /// @param publicInputs The public signals, each < r.
    function verifyProof(uint256[8] calldata proof, uint256[] calldata publicInputs) external view returns (bool);

    /// @notice The number of public inputs of the key.
    function publicInputCount() external view returns (uint256);

    /// @notice keccak256 of the packed verification key words.
    function vkHash() external view returns (bytes32);

    /// @notice The data contract holding the verification key words (code = 0x00 || words).
    function vkData() external view returns (address);

    /// @notice The verification key words: alpha1 (2), beta2 (4), gamma2 (4), delta2 (4), IC (2 each).
    function verificationKey() external view returns (uint256[] memory);
}
