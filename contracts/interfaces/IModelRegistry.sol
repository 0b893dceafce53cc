// SPDX-License-Identifier: GPL-3.0-or-later
pragma solidity ^0.8.24;

/// @title Errors of the model registry
interface IModelRegistryErrors {
    /// @notice Thrown by `publishVersion` and `setActive` when the caller does not own the model.
    error NotModelOwner(uint256 modelId, address caller, address owner);

    /// @notice Thrown by `publishVersion`, `setActive`, `getVersion`, `getPart`, `getParts` and
    ///         `getValidity` for an unknown model.
    error ModelNotFound(uint256 modelId);

    /// @notice Thrown by `getVersion`, `getPart`, `getParts` and `getValidity` for a version the
    ///         model does not have.
    error VersionNotFound(uint256 modelId, uint32 version);

    /// @notice Thrown by `getPart` for a part the version does not have.
    error PartNotFound(uint256 modelId, uint32 version, uint256 part);

    /// @notice Thrown by `registerModel` and `publishVersion` when the version has no part or more
    ///         than MAX_PARTS.
    error PartCountOutOfBounds(uint256 parts, uint256 max);

    /// @notice Thrown by `registerModel` and `publishVersion` when the manifest hash is zero.
    error ManifestHashZero();

    /// @notice Thrown when a part's verifier was not deployed by the registry's VerifierFactory.
    error VerifierNotFromFactory(uint256 part, address verifier);

    /// @notice Thrown when a part's verifier does not take exactly 8 public inputs
    ///         (tag, n0, T_{n0}, O_{n0}, n, T_n, O_{n-1}, O_n).
    error VerifierShapeMismatch(uint256 part, address verifier, uint256 publicInputs);

    /// @notice Thrown when a part's share count is outside [MIN_SHARES, MAX_SHARES].
    error ShareCountOutOfBounds(uint256 part, uint8 shares, uint8 min, uint8 max);

    /// @notice Thrown when a part's maxRounds is 0.
    error MaxRoundsZero(uint256 part);

    /// @notice Thrown when a part's maxRounds is above MAX_PART_ROUNDS (a claim chunk's round
    ///         count is recorded in 16 bits).
    error MaxRoundsTooLarge(uint256 part, uint32 maxRounds, uint32 max);

    /// @notice Thrown when a part's maxBudget is below its maxRounds (set maxBudget = maxRounds
    ///         for a part that is never claimed in chunks).
    error MaxBudgetBelowMaxRounds(uint256 part, uint32 maxBudget, uint32 maxRounds);

    /// @notice Thrown when a part's minProofWindow is 0 or above MAX_MIN_PROOF_WINDOW.
    error MinProofWindowOutOfBounds(uint256 part, uint64 minProofWindow, uint64 max);

    /// @notice Thrown when a part's circuit hash or key hash is zero.
    error PartHashZero(uint256 part);

    /// @notice Thrown when a part's declared key hash is not its verifier's `vkHash()`: the
    ///         registry never records a key that nodes and users would check in vain.
    error KeyHashMismatch(uint256 part, bytes32 declared, bytes32 verifierKey);

    /// @notice Thrown by the constructor when the verifier factory has no code.
    error ModelRegistryInvalidFactory(address factory);

    /// @notice Thrown when a version's validity verifier was not deployed by the registry's
    ///         VerifierFactory, and for a zero verifier with a non-zero rule hash, circuit hash or
    ///         key hash (a version without an input rule has all four zero).
    error ValidityVerifierNotFromFactory(address verifier);

    /// @notice Thrown when a version's validity verifier does not take 1 + 2 k public inputs
    ///         (ruleHash, then tag_j, c_j for each of part 0's k assignments).
    error ValidityShapeMismatch(address verifier, uint256 inputs, uint256 expected);

    /// @notice Thrown when a version's rule hash is 0 or not below the BN254 scalar field order r.
    error RuleHashOutOfField(uint256 ruleHash);

    /// @notice Thrown when a version with an input rule has a zero circuit hash or key hash.
    error ValidityHashZero();

    /// @notice Thrown when a version's declared validity key hash is not its verifier's `vkHash()`.
    error ValidityKeyHashMismatch(bytes32 declared, bytes32 held);
}

/// @title Events of the model registry
interface IModelRegistryEvents {
    /// @notice `owner` registered model `modelId` (its version 1 follows as ModelVersionPublished).
    event ModelRegistered(uint256 indexed modelId, address indexed owner, string metadataURI);

    /// @notice Model `modelId` has a new current version `version` of `partCount` parts.
    event ModelVersionPublished(
        uint256 indexed modelId,
        uint32 indexed version,
        bytes32 manifestHash,
        uint256 partCount
    );

    /// @notice Model `modelId` was activated or deactivated.
    event ModelActiveSet(uint256 indexed modelId, bool active);

    /// @notice Version `version` of model `modelId` has an input rule: requests for it carry the
    ///         user's validity proof, checked by `verifier` (emitted only for a version with a rule).
    event ValidityRuleSet(
        uint256 indexed modelId,
        uint32 indexed version,
        address verifier,
        uint256 ruleHash,
        bytes32 circuitHash,
        bytes32 keyHash
    );
}

/// @title Model registry (protocol version 2)
/// @notice A model has an id, an owner and versions. A version is a manifest (by hash) split into
///         parts; each part has its own terms: a factory-made verifier of 8 public inputs, a price
///         per round per assignment, R_max, the largest budget (claimed in chunks of at most R_max
///         rounds when above R_max), a minimum proof window, the number of nodes k, and the hashes
///         of its circuit and proving key. A version may also have an input rule: the terms of
///         the user's validity proof, which the market checks at request. The owner publishes new
///         versions and (de)activates the model; every version stays readable. Queries pin the
///         version they were requested with.
interface IModelRegistry is IModelRegistryErrors, IModelRegistryEvents {
    /// @notice Terms of one part of a model version.
    /// @param verifier A `Groth16Verifier` made by the factory, with 8 public inputs.
    /// @param price Fee per round per assignment, in token wei.
    /// @param maxRounds R_max, the slot count of the part's circuit, the most rounds one claim
    ///        proves (1..MAX_PART_ROUNDS).
    /// @param maxBudget The largest budget a query may give an assignment of this part
    ///        (>= maxRounds; == maxRounds: never claimed in chunks).
    /// @param minProofWindow Seconds a node needs to prove after the round deadline (>= 1).
    /// @param shares k, the number of nodes a query assigns to this part (1..8).
    /// @param circuitHash Hash of the part's circuit (nodes and clients check it).
    /// @param keyHash Hash of the part's proving/verifying key (nodes and clients check it).
    struct PartTerms {
        address verifier;
        uint96 price;
        uint32 maxRounds;
        uint32 maxBudget;
        uint64 minProofWindow;
        uint8 shares;
        bytes32 circuitHash;
        bytes32 keyHash;
    }

    /// @notice The input rule of a model version: the terms of the user's validity proof
    ///         (PROTOCOL.md, "User validity proof"). All zero: the version has no input rule.
    /// @param verifier A `Groth16Verifier` made by the factory, with 1 + 2 k public inputs (k =
    ///        part 0's shares): ruleHash, then tag_j and c_j (round-1 commitment) of each of part
    ///        0's assignments, in node order. Zero: no rule.
    /// @param ruleHash Hash of the input rule and usage policy, 0 < ruleHash < r (the proof's
    ///        first public input, set by the market from this record).
    /// @param circuitHash Hash of the validity circuit (clients check it).
    /// @param keyHash Hash of the validity key, the verifier's `vkHash()` (clients check it).
    struct ValidityTerms {
        address verifier;
        uint256 ruleHash;
        bytes32 circuitHash;
        bytes32 keyHash;
    }

    /// @notice A model's header. `currentVersion` is 0 for an unknown model.
    struct Model {
        address owner;
        bool active;
        uint32 currentVersion;
        string metadataURI;
    }

    /// @notice One published version.
    struct Version {
        bytes32 manifestHash;
        uint64 publishedAt;
        uint256 partCount;
    }

    /// @notice Register a model owned by the caller, active, with version 1 of `parts` and the
    ///         input rule `validity` (all zero for none).
    /// @return modelId The new model's id (ids start at 1).
    function registerModel(
        bytes32 manifestHash,
        string calldata metadataURI,
        PartTerms[] calldata parts,
        ValidityTerms calldata validity
    ) external returns (uint256 modelId);

    /// @notice Publish a new version of a model the caller owns, with its parts and its input rule
    ///         `validity` (all zero for none); it becomes current for new queries (queries already
    ///         requested keep the version and terms they recorded).
    /// @return version The new version number.
    function publishVersion(
        uint256 modelId,
        bytes32 manifestHash,
        PartTerms[] calldata parts,
        ValidityTerms calldata validity
    ) external returns (uint32 version);

    /// @notice Activate or deactivate a model the caller owns. Inactive models take no new
    ///         queries; queries in flight are not affected.
    function setActive(uint256 modelId, bool active) external;

    /// @notice A model's header; all zero (inactive) for an unknown id. Never reverts.
    function getModel(uint256 modelId) external view returns (Model memory);

    /// @notice A published version of a model.
    function getVersion(uint256 modelId, uint32 version) external view returns (Version memory);

    /// @notice The terms of one part (0-based) of a published version.
    function getPart(uint256 modelId, uint32 version, uint256 part) external view returns (PartTerms memory);

    /// @notice The terms of every part of a published version, in part order.
    function getParts(uint256 modelId, uint32 version) external view returns (PartTerms[] memory);

    /// @notice The input rule of a published version (all zero for a version without one).
    function getValidity(uint256 modelId, uint32 version) external view returns (ValidityTerms memory);

    /// @notice The number of registered models (the highest id).
    function modelCount() external view returns (uint256);

    /// @notice The factory whose verifiers this registry accepts.
    function verifierFactory() external view returns (address);
}
