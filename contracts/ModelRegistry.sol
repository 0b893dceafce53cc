// SPDX-License-Identifier: GPL-3.0-or-later
pragma solidity ^0.8.24;

import {IModelRegistry} from "./interfaces/IModelRegistry.sol";
import {IInferenceVerifier} from "./interfaces/IInferenceVerifier.sol";

/// @title Model registry
/// @notice Models, their owners and their versions. See `IModelRegistry`.
/// @dev Permissionless: anyone registers a model and owns it. Users choose models by id and
///      should check a model's verifier and weights commitment off-chain before trusting it.
contract ModelRegistry is IModelRegistry {
    /// @notice Bounds of a model's number of shares (nodes per query). At least 2, so that no
    ///         single node sees the input.
    uint8 public constant MIN_SHARES = 2;
    uint8 public constant MAX_SHARES = 16;

    uint256 private _modelCount;
    mapping(uint256 modelId => Model) private _models;
    mapping(uint256 modelId => mapping(uint32 version => ModelVersion)) private _versions;

    /// @inheritdoc IModelRegistry
    function registerModel(
        address verifier,
        bytes32 weightsCommitment,
        uint32 inputSize,
        uint32 outputSize,
        uint8 shares,
        uint96 pricePerQuery
    ) external returns (uint256 modelId) {
        modelId = ++_modelCount;
        _models[modelId] = Model({owner: msg.sender, latestVersion: 0, active: true});
        emit ModelRegistered(modelId, msg.sender);
        emit ModelActiveSet(modelId, true);
        _publish(modelId, verifier, weightsCommitment, inputSize, outputSize, shares, pricePerQuery);
    }

    /// @inheritdoc IModelRegistry
    function publishVersion(
        uint256 modelId,
        address verifier,
        bytes32 weightsCommitment,
        uint32 inputSize,
        uint32 outputSize,
        uint8 shares,
        uint96 pricePerQuery
    ) external returns (uint32 version) {
        _ownedModel(modelId);
        return _publish(modelId, verifier, weightsCommitment, inputSize, outputSize, shares, pricePerQuery);
    }

    /// @inheritdoc IModelRegistry
    function setActive(uint256 modelId, bool active) external {
        _ownedModel(modelId).active = active;
        emit ModelActiveSet(modelId, active);
    }

    /// @inheritdoc IModelRegistry
    function getModel(uint256 modelId) external view returns (Model memory) {
        return _models[modelId];
    }

    /// @inheritdoc IModelRegistry
    function getVersion(uint256 modelId, uint32 version) external view returns (ModelVersion memory) {
        Model storage model = _models[modelId];
        if (model.latestVersion == 0) revert ModelNotFound(modelId);
        if (version == 0 || version > model.latestVersion) revert VersionNotFound(modelId, version);
        return _versions[modelId][version];
    }

    /// @inheritdoc IModelRegistry
    function getCurrent(uint256 modelId) external view returns (Model memory model, ModelVersion memory version) {
        model = _models[modelId];
        version = _versions[modelId][model.latestVersion];
    }

    /// @inheritdoc IModelRegistry
    function modelCount() external view returns (uint256) {
        return _modelCount;
    }

    function _ownedModel(uint256 modelId) private view returns (Model storage model) {
        model = _models[modelId];
        if (model.latestVersion == 0) revert ModelNotFound(modelId);
        if (model.owner != msg.sender) revert NotModelOwner(modelId, msg.sender, model.owner);
    }

    function _publish(
        uint256 modelId,
        address verifier,
        bytes32 weightsCommitment,
        uint32 inputSize,
        uint32 outputSize,
        uint8 shares,
        uint96 pricePerQuery
    ) private returns (uint32 version) {
        if (shares < MIN_SHARES || shares > MAX_SHARES) revert ShareCountOutOfBounds(shares, MIN_SHARES, MAX_SHARES);
        if (inputSize == 0 || outputSize == 0) revert SizeZero(inputSize, outputSize);
        if (weightsCommitment == bytes32(0)) revert WeightsCommitmentZero(modelId);
        if (pricePerQuery % shares != 0) revert PriceNotDivisible(pricePerQuery, shares);
        if (verifier.code.length == 0) revert VerifierNotContract(verifier);
        uint256 publicInputs = IInferenceVerifier(verifier).publicInputCount();
        if (publicInputs != uint256(outputSize) + 1) {
            revert VerifierShapeMismatch(verifier, uint256(outputSize) + 1, publicInputs);
        }
        Model storage model = _models[modelId];
        version = model.latestVersion + 1;
        model.latestVersion = version;
        _versions[modelId][version] = ModelVersion({
            verifier: verifier,
            pricePerQuery: pricePerQuery,
            weightsCommitment: weightsCommitment,
            inputSize: inputSize,
            outputSize: outputSize,
            shares: shares,
            publishedAt: uint64(block.timestamp)
        });
        emit ModelVersionPublished(
            modelId,
            version,
            verifier,
            weightsCommitment,
            inputSize,
            outputSize,
            shares,
            pricePerQuery
        );
    }
}
