// SPDX-License-Identifier: GPL-3.0-or-later
pragma solidity ^0.8.24;

import {Strings} from "@openzeppelin/contracts/utils/Strings.sol";
import {IInferenceVerifier} from "../interfaces/IInferenceVerifier.sol";

/// @title Groth16 verifier adapter
/// @notice Puts a generated snarkjs-style Groth16 verifier (groth16py's
///         `VerifyingKey.to_solidity(style="snarkjs")`, whose
///         `verifyProof(uint[2], uint[2][2], uint[2], uint[N])` selector depends on N) behind
///         `IInferenceVerifier`, so one market works with models of any output size.
///         Deploy one adapter per model version, with that version's verifier and N.
/// @dev The generated verifiers are produced from each circuit's verifying key at build or test
///      time and are not committed: a single-party setup is for development only.
///      The generated verifier reverts on inputs that are not field elements and executes
///      INVALID (consuming all gas it was given) on points the precompiles reject. The adapter
///      maps every failed call to `false`, and checks beforehand that a and c lie on the G1
///      curve, so a corrupted proof usually fails cheaply. A b that is off the G2 curve still
///      burns the gas forwarded to the verifier; only the submitter pays for that.
contract Groth16VerifierAdapter is IInferenceVerifier {
    /// @notice Length of a proof: a (2 words), b (4 words), c (2 words).
    uint256 public constant PROOF_LENGTH = 256;

    /// @dev The BN254 base field modulus.
    uint256 private constant _Q = 21888242871839275222246405745257275088696311157297823662689037894645226208583;

    /// @notice The generated Groth16 verifier this adapter calls.
    address public immutable groth16Verifier;

    /// @inheritdoc IInferenceVerifier
    uint256 public immutable publicInputCount;

    /// @notice Selector of `verifyProof(uint256[2],uint256[2][2],uint256[2],uint256[N])`.
    bytes4 public immutable verifyProofSelector;

    /// @param verifier The generated verifier.
    /// @param publicInputs Its N: 1 (the commitment) + the model's output size.
    constructor(address verifier, uint256 publicInputs) {
        if (verifier.code.length == 0) revert VerifierHasNoCode(verifier);
        if (publicInputs == 0) revert PublicInputCountInvalid(publicInputs);
        groth16Verifier = verifier;
        publicInputCount = publicInputs;
        verifyProofSelector = bytes4(
            keccak256(
                abi.encodePacked(
                    "verifyProof(uint256[2],uint256[2][2],uint256[2],uint256[",
                    Strings.toString(publicInputs),
                    "])"
                )
            )
        );
    }

    /// @inheritdoc IInferenceVerifier
    function verify(uint256[] calldata publicInputs, bytes calldata proof) external view returns (bool) {
        if (publicInputs.length != publicInputCount) {
            revert PublicInputCountMismatch(publicInputCount, publicInputs.length);
        }
        if (proof.length != PROOF_LENGTH) revert ProofLengthInvalid(PROOF_LENGTH, proof.length);
        if (!_isOnG1(proof, 0) || !_isOnG1(proof, 192)) return false;
        // The static arguments are laid out inline, so the calldata is the selector, the proof
        // words and the inputs, back to back (encodePacked pads array elements to 32 bytes).
        (bool ok, bytes memory result) = groth16Verifier.staticcall(
            abi.encodePacked(verifyProofSelector, proof, publicInputs)
        );
        return ok && result.length == 32 && abi.decode(result, (bool));
    }

    /// @dev Whether the point at `proof[offset:offset+64]` is an affine point of y^2 = x^3 + 3.
    function _isOnG1(bytes calldata proof, uint256 offset) private pure returns (bool) {
        uint256 x = uint256(bytes32(proof[offset:offset + 32]));
        uint256 y = uint256(bytes32(proof[offset + 32:offset + 64]));
        if (x >= _Q || y >= _Q) return false;
        return mulmod(y, y, _Q) == addmod(mulmod(mulmod(x, x, _Q), x, _Q), 3, _Q);
    }
}
