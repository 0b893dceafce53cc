// SPDX-License-Identifier: GPL-3.0-or-later
pragma solidity ^0.8.24;

/// @title Errors of an inference verifier
/// @notice Declared apart so that contracts which call a verifier (the query market) can list them
///         in their own ABI: a caller's client then decodes an error that bubbles up from here.
interface IInferenceVerifierErrors {
    /// @notice Thrown by `verify` when the number of public inputs differs from the circuit's.
    /// @param expected The circuit's number of public inputs (1 commitment + the model's outputs).
    /// @param actual The number of public inputs given.
    error PublicInputCountMismatch(uint256 expected, uint256 actual);

    /// @notice Thrown by `verify` when the proof is not a 256-byte Groth16 proof (a, b, c).
    /// @param expected The proof length the verifier accepts, in bytes.
    /// @param actual The length of the proof given.
    error ProofLengthInvalid(uint256 expected, uint256 actual);

    /// @notice Thrown by a verifier's constructor when the wrapped verifier has no code.
    /// @param verifier The address given as the generated Groth16 verifier.
    error VerifierHasNoCode(address verifier);

    /// @notice Thrown by a verifier's constructor when it is built for zero public inputs.
    /// @param publicInputCount The number of public inputs given.
    error PublicInputCountInvalid(uint256 publicInputCount);
}

/// @title Inference verifier
/// @notice Checks the proof of one node's share of a query. The public inputs are, in order, the
///         share's commitment c_j followed by the share's outputs out_j[0..m-1], all BN254 scalar
///         field elements. One verifier per model version: the circuit fixes the model's weights.
interface IInferenceVerifier is IInferenceVerifierErrors {
    /// @notice Whether `proof` proves the model's computation for `publicInputs`.
    /// @dev Returns false (never reverts) for a well-formed proof that does not verify, including
    ///      one whose points are off the curve or whose inputs are not field elements. Reverts
    ///      only on malformed shapes: `PublicInputCountMismatch`, `ProofLengthInvalid`.
    /// @param publicInputs [commitment, out_0, ..., out_{m-1}].
    /// @param proof The Groth16 proof as 256 bytes: a (2 words), b (4 words), c (2 words), in the
    ///        word order of snarkjs's `exportSolidityCallData` (groth16py's `prove` output).
    /// @return True if and only if the proof verifies.
    function verify(uint256[] calldata publicInputs, bytes calldata proof) external view returns (bool);

    /// @notice The number of public inputs the circuit has (1 + the model's output size).
    function publicInputCount() external view returns (uint256);
}
