// SPDX-License-Identifier: GPL-3.0-or-later
pragma solidity ^0.8.24;

/// @title Errors of the model registry
interface IModelRegistryErrors {
    /// @notice Thrown by `publishVersion` and `setActive` when the caller does not own the model.
    error NotModelOwner(uint256 modelId, address caller, address owner);

    /// @notice Thrown by `publishVersion`, `setActive` and `getVersion` for an unknown model.
    error ModelNotFound(uint256 modelId);

    /// @notice Thrown by `getVersion` for a version the model does not have.
    error VersionNotFound(uint256 modelId, uint32 version);

    /// @notice Thrown by `registerModel` and `publishVersion` when the number of shares is
    ///         outside [MIN_SHARES, MAX_SHARES].
    error ShareCountOutOfBounds(uint8 shares, uint8 min, uint8 max);

    /// @notice Thrown by `registerModel` and `publishVersion` when an input or output size is 0.
    error SizeZero(uint32 inputSize, uint32 outputSize);

    /// @notice Thrown by `registerModel` and `publishVersion` when the verifier has no code.
    error VerifierNotContract(address verifier);

    /// @notice Thrown by `registerModel` and `publishVersion` when the verifier's public input
    ///         count is not 1 + outputSize (the commitment, then the outputs).
    error VerifierShapeMismatch(address verifier, uint256 expectedPublicInputs, uint256 actualPublicInputs);

    /// @notice Thrown by `registerModel` and `publishVersion` when the price does not split
    ///         evenly into the shares (each node is paid price / shares).
    error PriceNotDivisible(uint96 pricePerQuery, uint8 shares);

    /// @notice Thrown by `registerModel` and `publishVersion` when the weights commitment is 0.
    error WeightsCommitmentZero(uint256 modelId);
}

/// @title Events of the model registry
interface IModelRegistryEvents {
    /// @notice `owner` registered model `modelId` (its version 1 follows as ModelVersionPublished).
    event ModelRegistered(uint256 indexed modelId, address indexed owner);

    /// @notice Model `modelId` has a new current version.
    event ModelVersionPublished(
        uint256 indexed modelId,
        uint32 indexed version,
        address verifier,
        bytes32 weightsCommitment,
        uint32 inputSize,
        uint32 outputSize,
        uint8 shares,
        uint96 pricePerQuery
    );

    /// @notice Model `modelId` was activated or deactivated.
    event ModelActiveSet(uint256 indexed modelId, bool active);
}

/// @title Model registry
/// @notice A model has an id, an owner and versions. Each version fixes a verifier (whose circuit
///         has the weights as constants), a commitment to the weights/manifest, the input and
///         output sizes, the number of shares k a query is split into and the price per query.
///         The owner publishes new versions and (de)activates the model; every version stays
///         readable.
interface IModelRegistry is IModelRegistryErrors, IModelRegistryEvents {
    /// @notice One published version of a model.
    /// @param verifier An `IInferenceVerifier` with 1 + outputSize public inputs.
    /// @param pricePerQuery Fee for one query, in token units; divisible by `shares`.
    /// @param weightsCommitment Commitment to the weights / model manifest.
    /// @param inputSize Number of field elements in an input.
    /// @param outputSize Number of field elements in an output.
    /// @param shares Number of nodes (additive shares) per query.
    /// @param publishedAt Block timestamp of publication.
    struct ModelVersion {
        address verifier;
        uint96 pricePerQuery;
        bytes32 weightsCommitment;
        uint32 inputSize;
        uint32 outputSize;
        uint8 shares;
        uint64 publishedAt;
    }

    /// @notice A model's header. `latestVersion` is 0 for an unknown model.
    struct Model {
        address owner;
        uint32 latestVersion;
        bool active;
    }

    /// @notice Register a model owned by the caller, active, with version 1.
    /// @return modelId The new model's id (ids start at 1).
    function registerModel(
        address verifier,
        bytes32 weightsCommitment,
        uint32 inputSize,
        uint32 outputSize,
        uint8 shares,
        uint96 pricePerQuery
    ) external returns (uint256 modelId);

    /// @notice Publish a new version of a model the caller owns; it becomes current for new
    ///         queries (queries already made keep the version they were made with).
    /// @return version The new version number.
    function publishVersion(
        uint256 modelId,
        address verifier,
        bytes32 weightsCommitment,
        uint32 inputSize,
        uint32 outputSize,
        uint8 shares,
        uint96 pricePerQuery
    ) external returns (uint32 version);

    /// @notice Activate or deactivate a model the caller owns. Inactive models take no queries.
    function setActive(uint256 modelId, bool active) external;

    /// @notice A model's header; all zero (inactive) for an unknown id. Never reverts.
    function getModel(uint256 modelId) external view returns (Model memory);

    /// @notice A published version of a model.
    function getVersion(uint256 modelId, uint32 version) external view returns (ModelVersion memory);

    /// @notice The header and current version of a model in one call (zero for an unknown id).
    function getCurrent(uint256 modelId) external view returns (Model memory model, ModelVersion memory version);

    /// @notice The number of registered models (the highest id).
    function modelCount() external view returns (uint256);
}
