// SPDX-License-Identifier: GPL-3.0-or-later
pragma solidity ^0.8.24;

import {IGroth16Verifier} from "../interfaces/IGroth16Verifier.sol";

/// @title Generic Groth16 verifier (BN254, EIP-197 precompiles 0x06, 0x07, 0x08)
/// @notice Checks e(-A, B) e(alpha, beta) e(vk_x, gamma) e(C, delta) == 1 with
///         vk_x = IC_0 + sum_i input_i IC_{i+1}. The key lives in a data contract whose runtime code
///         is 0x00 || key words (SSTORE2), read with extcodecopy at every call.
/// @dev Deployed by `VerifierFactory` only (the registries check `isVerifier`); anyone may deploy
///      this code elsewhere, but such a copy is not trusted by anything.
contract Groth16Verifier is IGroth16Verifier {
    /// @dev BN254 base field modulus q.
    uint256 private constant _Q = 21888242871839275222246405745257275088696311157297823662689037894645226208583;
    /// @dev BN254 scalar field order r.
    uint256 private constant _R = 21888242871839275222246405745257275088548364400416034343698204186575808495617;

    address private immutable _vkData;
    uint256 private immutable _publicInputCount;
    bytes32 private immutable _vkHash;

    /// @param vkData_ The data contract (code 0x00 || key words).
    /// @param publicInputCount_ The number of public inputs (IC points - 1).
    /// @param vkHash_ keccak256 of the packed key words.
    constructor(address vkData_, uint256 publicInputCount_, bytes32 vkHash_) {
        _vkData = vkData_;
        _publicInputCount = publicInputCount_;
        _vkHash = vkHash_;
    }

    /// @inheritdoc IGroth16Verifier
    function verifyProof(uint256[8] calldata proof, uint256[] calldata publicInputs) external view returns (bool ok) {
        uint256 n = _publicInputCount;
        if (publicInputs.length != n) return false;
        for (uint256 i = 0; i < n; ++i) {
            if (publicInputs[i] >= _R) return false;
        }
        for (uint256 i = 0; i < 8; ++i) {
            if (proof[i] >= _Q) return false;
        }
        if (!_onG1(proof[0], proof[1]) || !_onG1(proof[6], proof[7])) return false;
        address data = _vkData;
        assembly ("memory-safe") {
            // Scratch memory past the free pointer (not kept): the key, then the pairing input.
            let vk := mload(0x40)
            let words := add(14, mul(2, add(n, 1)))
            extcodecopy(data, vk, 1, mul(words, 32))
            let buf := add(vk, mul(words, 32))
            // vk_x accumulator at buf[0..64), ecMul input at buf[64..160).
            mstore(buf, mload(add(vk, 448)))
            mstore(add(buf, 32), mload(add(vk, 480)))
            ok := 1
            for {
                let i := 0
            } lt(i, n) {
                i := add(i, 1)
            } {
                let ic := add(vk, add(512, mul(i, 64)))
                mstore(add(buf, 64), mload(ic))
                mstore(add(buf, 96), mload(add(ic, 32)))
                mstore(add(buf, 128), calldataload(add(publicInputs.offset, mul(i, 32))))
                ok := and(ok, staticcall(gas(), 0x07, add(buf, 64), 96, add(buf, 64), 64))
                ok := and(ok, staticcall(gas(), 0x06, buf, 128, buf, 64))
            }
            if ok {
                let p := add(buf, 64)
                // (-A, B)
                mstore(p, calldataload(proof))
                let ay := calldataload(add(proof, 32))
                mstore(add(p, 32), mod(sub(_Q, ay), _Q))
                calldatacopy(add(p, 64), add(proof, 64), 128)
                // (alpha, beta): 6 key words from offset 0
                mcopy(add(p, 192), vk, 192)
                // (vk_x, gamma)
                mstore(add(p, 384), mload(buf))
                mstore(add(p, 416), mload(add(buf, 32)))
                mcopy(add(p, 448), add(vk, 192), 128)
                // (C, delta)
                calldatacopy(add(p, 576), add(proof, 192), 64)
                mcopy(add(p, 640), add(vk, 320), 128)
                ok := staticcall(gas(), 0x08, p, 768, p, 32)
                ok := and(ok, eq(mload(p), 1))
            }
        }
    }

    /// @inheritdoc IGroth16Verifier
    function publicInputCount() external view returns (uint256) {
        return _publicInputCount;
    }

    /// @inheritdoc IGroth16Verifier
    function vkHash() external view returns (bytes32) {
        return _vkHash;
    }

    /// @inheritdoc IGroth16Verifier
    function vkData() external view returns (address) {
        return _vkData;
    }

    /// @inheritdoc IGroth16Verifier
    function verificationKey() external view returns (uint256[] memory vk) {
        uint256 words = 14 + 2 * (_publicInputCount + 1);
        vk = new uint256[](words);
        address data = _vkData;
        assembly ("memory-safe") {
            extcodecopy(data, add(vk, 32), 1, mul(words, 32))
        }
    }

    /// @dev Whether (x, y) lies on y^2 = x^3 + 3 (coordinates already < q). (0, 0) is infinity.
    function _onG1(uint256 x, uint256 y) private pure returns (bool) {
        if (x == 0 && y == 0) return true;
        return mulmod(y, y, _Q) == addmod(mulmod(mulmod(x, x, _Q), x, _Q), 3, _Q);
    }
}
