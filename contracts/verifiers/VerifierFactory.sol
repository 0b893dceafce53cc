// SPDX-License-Identifier: GPL-3.0-or-later
pragma solidity ^0.8.24;

import {IVerifierFactory} from "../interfaces/IVerifierFactory.sol";
import {Groth16Verifier} from "./Groth16Verifier.sol";

/// @title Factory of Groth16 verifiers of the fixed form
/// @notice See `IVerifierFactory`. Permissionless and ownerless: anyone may deploy the verifier
///         of any key; what makes a verifier trustworthy is its key, which the model registry
///         records by hash next to the circuit hash, for nodes and users to check.
contract VerifierFactory is IVerifierFactory {
    /// @dev BN254 base field modulus q (every key word is a coordinate below it).
    uint256 private constant _Q = 21888242871839275222246405745257275088696311157297823662689037894645226208583;
    /// @notice Most key words one data contract holds ((24576 - 1) / 32).
    uint256 public constant MAX_KEY_WORDS = 767;

    mapping(bytes32 vkHash => address) private _verifierOf;
    mapping(address verifier => bool) private _isVerifier;

    /// @inheritdoc IVerifierFactory
    function deploy(uint256[] calldata vk) external returns (address verifier) {
        bytes32 hash = keccak256(abi.encodePacked(vk));
        verifier = _verifierOf[hash];
        if (verifier != address(0)) return verifier;
        uint256 words = vk.length;
        if (words < 16 || (words - 14) % 2 != 0) revert VerifierFactoryKeyLength(words);
        if (words > MAX_KEY_WORDS) revert VerifierFactoryKeyTooLarge(words, MAX_KEY_WORDS);
        for (uint256 i = 0; i < words; ++i) {
            if (vk[i] >= _Q) revert VerifierFactoryKeyWordNotInField(i, vk[i]);
        }
        uint256 publicInputs = (words - 14) / 2 - 1;
        address data = _writeData(abi.encodePacked(bytes1(0x00), vk));
        verifier = address(new Groth16Verifier(data, publicInputs, hash));
        _verifierOf[hash] = verifier;
        _isVerifier[verifier] = true;
        emit VerifierDeployed(verifier, hash, publicInputs);
    }

    /// @inheritdoc IVerifierFactory
    function isVerifier(address verifier) external view returns (bool) {
        return _isVerifier[verifier];
    }

    /// @inheritdoc IVerifierFactory
    function verifierOf(bytes32 vkHash) external view returns (address) {
        return _verifierOf[vkHash];
    }

    /// @dev SSTORE2 write: a contract whose runtime code is `runtime` (which starts with 0x00, so
    ///      it can never be called into). Init code: PUSH2 len DUP1 PUSH1 10 RETURNDATASIZE
    ///      CODECOPY RETURNDATASIZE RETURN, then the runtime.
    function _writeData(bytes memory runtime) private returns (address data) {
        bytes memory init = abi.encodePacked(hex"61", uint16(runtime.length), hex"80600a3d393df3", runtime);
        assembly ("memory-safe") {
            data := create(0, add(init, 32), mload(init))
        }
        if (data == address(0)) revert VerifierFactoryDataDeployFailed();
    }
}
