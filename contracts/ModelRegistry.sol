// SPDX-License-Identifier: GPL-3.0-or-later
pragma solidity ^0.8.24;

import {IModelRegistry} from "./interfaces/IModelRegistry.sol";
import {IVerifierFactory} from "./interfaces/IVerifierFactory.sol";
import {IGroth16Verifier} from "./interfaces/IGroth16Verifier.sol";

/// @title Model registry (protocol version 2)
/// @notice Models, their owners, versions and per-part terms. See `IModelRegistry`.
/// @dev Permissionless and ownerless: anyone registers a model and owns it. Only verifiers made by
///      the factory fixed at deployment are accepted. Users and nodes should check a version's
///      manifest, circuit and key hashes (and a version's validity circuit and key hashes)
///      off-chain before relying on it.
contract ModelRegistry is IModelRegistry {
    /// @notice Bounds of a part's number of nodes k.
    uint8 public constant MIN_SHARES = 1;
    uint8 public constant MAX_SHARES = 8;
    /// @notice Most parts a version may have.
    uint256 public constant MAX_PARTS = 16;
    /// @notice Longest minimum proof window a part may ask for.
    uint64 public constant MAX_MIN_PROOF_WINDOW = 1 days;
    /// @notice Public inputs of every part verifier: tag, n0, T_{n0}, O_{n0}, n, T_n, O_{n-1}, O_n
    ///         (a claim proves rounds n0+1..n from the transcripts its previous chunk recorded).
    uint256 public constant PART_PUBLIC_INPUTS = 8;
    /// @notice Largest R_max (the market records it per assignment in 16 bits).
    uint32 public constant MAX_PART_ROUNDS = type(uint16).max;
    /// @notice The BN254 scalar field order r (a rule hash is a public input, below it).
    uint256 public constant SNARK_SCALAR_FIELD =
        21888242871839275222246405745257275088548364400416034343698204186575808495617;

    IVerifierFactory private immutable _factory;

    uint256 private _modelCount;
    mapping(uint256 modelId => Model) private _models;
    mapping(uint256 modelId => mapping(uint32 version => Version)) private _versions;
    mapping(uint256 modelId => mapping(uint32 version => mapping(uint256 part => PartTerms))) private _parts;
    /// @dev Written only for a version with an input rule (a zero verifier reads as none).
    mapping(uint256 modelId => mapping(uint32 version => ValidityTerms)) private _validity;

    /// @param factory The verifier factory whose verifiers parts must use.
    constructor(IVerifierFactory factory) {
        if (address(factory).code.length == 0) revert ModelRegistryInvalidFactory(address(factory));
        _factory = factory;
    }

    /// @inheritdoc IModelRegistry
    function registerModel(
        bytes32 manifestHash,
        string calldata metadataURI,
        PartTerms[] calldata parts,
        ValidityTerms calldata validity
    ) external returns (uint256 modelId) {
        modelId = ++_modelCount;
        Model storage model = _models[modelId];
        model.owner = msg.sender;
        model.active = true;
        model.metadataURI = metadataURI;
        emit ModelRegistered(modelId, msg.sender, metadataURI);
        emit ModelActiveSet(modelId, true);
        _publish(modelId, manifestHash, parts, validity);
    }

    /// @inheritdoc IModelRegistry
    function publishVersion(
        uint256 modelId,
        bytes32 manifestHash,
        PartTerms[] calldata parts,
        ValidityTerms calldata validity
    ) external returns (uint32 version) {
        _ownedModel(modelId);
        return _publish(modelId, manifestHash, parts, validity);
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
    function getVersion(uint256 modelId, uint32 version) external view returns (Version memory) {
        return _version(modelId, version);
    }

    /// @inheritdoc IModelRegistry
    function getPart(uint256 modelId, uint32 version, uint256 part) external view returns (PartTerms memory) {
        if (part >= _version(modelId, version).partCount) revert PartNotFound(modelId, version, part);
        return _parts[modelId][version][part];
    }

    /// @inheritdoc IModelRegistry
    function getParts(uint256 modelId, uint32 version) external view returns (PartTerms[] memory parts) {
        uint256 count = _version(modelId, version).partCount;
        parts = new PartTerms[](count);
        mapping(uint256 part => PartTerms) storage stored = _parts[modelId][version];
        for (uint256 i = 0; i < count; ++i) {
            parts[i] = stored[i];
        }
    }

    /// @inheritdoc IModelRegistry
    /// @dev Reads one slot for a version without a rule (the market calls it at every request).
    function getValidity(uint256 modelId, uint32 version) external view returns (ValidityTerms memory terms) {
        _version(modelId, version);
        ValidityTerms storage stored = _validity[modelId][version];
        if (stored.verifier != address(0)) terms = stored;
    }

    /// @inheritdoc IModelRegistry
    function modelCount() external view returns (uint256) {
        return _modelCount;
    }

    /// @inheritdoc IModelRegistry
    function verifierFactory() external view returns (address) {
        return address(_factory);
    }

    function _version(uint256 modelId, uint32 version) private view returns (Version storage) {
        uint32 current = _models[modelId].currentVersion;
        if (current == 0) revert ModelNotFound(modelId);
        if (version == 0 || version > current) revert VersionNotFound(modelId, version);
        return _versions[modelId][version];
    }

    function _ownedModel(uint256 modelId) private view returns (Model storage model) {
        model = _models[modelId];
        if (model.currentVersion == 0) revert ModelNotFound(modelId);
        if (model.owner != msg.sender) revert NotModelOwner(modelId, msg.sender, model.owner);
    }

    function _publish(
        uint256 modelId,
        bytes32 manifestHash,
        PartTerms[] calldata parts,
        ValidityTerms calldata validity
    ) private returns (uint32 version) {
        if (manifestHash == bytes32(0)) revert ManifestHashZero();
        uint256 count = parts.length;
        if (count == 0 || count > MAX_PARTS) revert PartCountOutOfBounds(count, MAX_PARTS);
        Model storage model = _models[modelId];
        version = model.currentVersion + 1;
        mapping(uint256 part => PartTerms) storage stored = _parts[modelId][version];
        for (uint256 i = 0; i < count; ++i) {
            _checkPart(i, parts[i]);
            stored[i] = parts[i];
        }
        if (_checkValidity(validity, parts[0].shares)) {
            _validity[modelId][version] = validity;
            emit ValidityRuleSet(
                modelId,
                version,
                validity.verifier,
                validity.ruleHash,
                validity.circuitHash,
                validity.keyHash
            );
        }
        model.currentVersion = version;
        _versions[modelId][version] = Version({
            manifestHash: manifestHash,
            publishedAt: uint64(block.timestamp),
            partCount: count
        });
        emit ModelVersionPublished(modelId, version, manifestHash, count);
    }

    function _checkPart(uint256 index, PartTerms calldata part) private view {
        address verifier = part.verifier;
        if (!_factory.isVerifier(verifier)) revert VerifierNotFromFactory(index, verifier);
        uint256 inputs = IGroth16Verifier(verifier).publicInputCount();
        if (inputs != PART_PUBLIC_INPUTS) revert VerifierShapeMismatch(index, verifier, inputs);
        if (part.shares < MIN_SHARES || part.shares > MAX_SHARES) {
            revert ShareCountOutOfBounds(index, part.shares, MIN_SHARES, MAX_SHARES);
        }
        if (part.maxRounds == 0) revert MaxRoundsZero(index);
        if (part.maxRounds > MAX_PART_ROUNDS) revert MaxRoundsTooLarge(index, part.maxRounds, MAX_PART_ROUNDS);
        if (part.maxBudget < part.maxRounds) revert MaxBudgetBelowMaxRounds(index, part.maxBudget, part.maxRounds);
        if (part.minProofWindow == 0 || part.minProofWindow > MAX_MIN_PROOF_WINDOW) {
            revert MinProofWindowOutOfBounds(index, part.minProofWindow, MAX_MIN_PROOF_WINDOW);
        }
        if (part.circuitHash == bytes32(0) || part.keyHash == bytes32(0)) revert PartHashZero(index);
        // The key nodes and users check (and a ceremony attests) is the key the verifier holds.
        bytes32 held = IGroth16Verifier(verifier).vkHash();
        if (held != part.keyHash) revert KeyHashMismatch(index, part.keyHash, held);
    }

    /// @dev Whether the version has an input rule: false for all-zero terms; otherwise checks a
    ///      factory verifier of 1 + 2 k inputs (k = part 0's shares, already in bounds), a rule
    ///      hash in (0, r), non-zero circuit and key hashes and the verifier's own key, and returns
    ///      true. A zero verifier with any non-zero field fails the factory check.
    function _checkValidity(ValidityTerms calldata validity, uint8 firstShares) private view returns (bool) {
        address verifier = validity.verifier;
        if (
            verifier == address(0) &&
            validity.ruleHash == 0 &&
            validity.circuitHash == bytes32(0) &&
            validity.keyHash == bytes32(0)
        ) return false;
        if (!_factory.isVerifier(verifier)) revert ValidityVerifierNotFromFactory(verifier);
        uint256 inputs = IGroth16Verifier(verifier).publicInputCount();
        uint256 expected = 1 + 2 * uint256(firstShares);
        if (inputs != expected) revert ValidityShapeMismatch(verifier, inputs, expected);
        if (validity.ruleHash == 0 || validity.ruleHash >= SNARK_SCALAR_FIELD) {
            revert RuleHashOutOfField(validity.ruleHash);
        }
        if (validity.circuitHash == bytes32(0) || validity.keyHash == bytes32(0)) revert ValidityHashZero();
        bytes32 held = IGroth16Verifier(verifier).vkHash();
        if (held != validity.keyHash) revert ValidityKeyHashMismatch(validity.keyHash, held);
        return true;
    }
}
