// SPDX-License-Identifier: GPL-3.0-or-later
pragma solidity ^0.8.24;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";
import {Ownable2Step} from "@openzeppelin/contracts/access/Ownable2Step.sol";
import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";
import {SafeCast} from "@openzeppelin/contracts/utils/math/SafeCast.sol";
import {INodeRegistry} from "./interfaces/INodeRegistry.sol";

/// @title Node registry
/// @notice Staking of inference nodes. See `INodeRegistry`.
/// @dev Eligibility and hosting are checked when a query is requested, not when it is served; a
///      node that starts unbonding keeps its assignments (and stays slashable for them).
contract NodeRegistry is INodeRegistry, Ownable2Step, ReentrancyGuardTransient {
    using SafeERC20 for IERC20;
    using SafeCast for uint256;

    /// @notice Upper bound of `minStake` (protects staked nodes from an arbitrary raise).
    uint256 public constant MAX_MIN_STAKE = 10_000_000 ether;
    /// @notice Bounds of the unbonding period fixed at deployment.
    uint64 public constant MIN_UNBONDING_PERIOD = 1 hours;
    uint64 public constant MAX_UNBONDING_PERIOD = 365 days;
    /// @notice Longest endpoint, in bytes.
    uint256 public constant MAX_ENDPOINT_LENGTH = 256;

    IERC20 private immutable _token;
    uint64 private immutable _unbondingPeriod;

    uint256 private _minStake;
    address private _slashRecipient;
    mapping(address account => bool) private _slashers;
    mapping(address account => PendingSlasher) private _pendingSlashers;
    mapping(address node => Node) private _nodes;
    address[] private _nodeList;
    mapping(address node => mapping(uint256 modelId => mapping(uint256 part => bool))) private _hosts;

    /// @param owner_ Owner (sets slashers, slash recipient, minimum stake).
    /// @param token The staking token.
    /// @param minStake_ Minimum stake for eligibility, in [1, MAX_MIN_STAKE].
    /// @param unbondingPeriod_ Lock of unbonding stake, in [MIN_UNBONDING_PERIOD,
    ///        MAX_UNBONDING_PERIOD]; must be at least the market's maximum deadline window.
    /// @param slashRecipient_ Receives slashed stake (treasury or a reward pool).
    constructor(
        address owner_,
        IERC20 token,
        uint256 minStake_,
        uint64 unbondingPeriod_,
        address slashRecipient_
    ) Ownable(owner_) {
        if (address(token).code.length == 0) revert NodeRegistryInvalidToken(address(token));
        if (unbondingPeriod_ < MIN_UNBONDING_PERIOD || unbondingPeriod_ > MAX_UNBONDING_PERIOD) {
            revert UnbondingPeriodOutOfBounds(unbondingPeriod_, MIN_UNBONDING_PERIOD, MAX_UNBONDING_PERIOD);
        }
        _token = token;
        _unbondingPeriod = unbondingPeriod_;
        _setMinStake(minStake_);
        _setSlashRecipient(slashRecipient_);
    }

    // ---------------------------------------------------------------- nodes

    /// @inheritdoc INodeRegistry
    function register(
        bytes32 encryptionKey,
        address ackSigner,
        string calldata endpoint,
        string calldata metadataURI,
        uint256 amount
    ) external nonReentrant {
        Node storage node = _nodes[msg.sender];
        if (node.registered) revert NodeAlreadyRegistered(msg.sender);
        node.registered = true;
        _setKeys(node, encryptionKey, ackSigner, endpoint, metadataURI);
        _nodeList.push(msg.sender);
        emit NodeRegistered(msg.sender, encryptionKey, ackSigner, endpoint, metadataURI);
        if (amount > 0) _stake(node, amount);
    }

    /// @inheritdoc INodeRegistry
    function updateNode(
        bytes32 encryptionKey,
        address ackSigner,
        string calldata endpoint,
        string calldata metadataURI
    ) external {
        Node storage node = _registered(msg.sender);
        _setKeys(node, encryptionKey, ackSigner, endpoint, metadataURI);
        emit NodeUpdated(msg.sender, encryptionKey, ackSigner, endpoint, metadataURI);
    }

    /// @inheritdoc INodeRegistry
    function setParts(uint256 modelId, uint256[] calldata parts, bool hosted) external {
        _registered(msg.sender);
        if (parts.length == 0) revert NoParts(msg.sender);
        mapping(uint256 part => bool) storage hosts = _hosts[msg.sender][modelId];
        for (uint256 i = 0; i < parts.length; ++i) {
            hosts[parts[i]] = hosted;
            emit PartHosted(msg.sender, modelId, parts[i], hosted);
        }
    }

    /// @inheritdoc INodeRegistry
    function stake(uint256 amount) external nonReentrant {
        _stake(_registered(msg.sender), amount);
    }

    /// @inheritdoc INodeRegistry
    function requestUnstake() external {
        Node storage node = _registered(msg.sender);
        if (node.unlockTime != 0) revert NodeUnbonding(msg.sender, node.unlockTime);
        if (node.stake == 0) revert NothingStaked(msg.sender);
        uint64 unlockTime = uint64(block.timestamp) + _unbondingPeriod;
        node.unlockTime = unlockTime;
        emit UnstakeRequested(msg.sender, node.stake, unlockTime);
    }

    /// @inheritdoc INodeRegistry
    function withdraw() external nonReentrant {
        Node storage node = _registered(msg.sender);
        uint64 unlockTime = node.unlockTime;
        if (unlockTime == 0) revert NodeNotUnbonding(msg.sender);
        if (block.timestamp < unlockTime) revert UnbondingNotFinished(msg.sender, unlockTime, block.timestamp);
        uint256 amount = node.stake;
        node.stake = 0;
        node.unlockTime = 0;
        emit Withdrawn(msg.sender, amount);
        if (amount > 0) _token.safeTransfer(msg.sender, amount);
    }

    // ---------------------------------------------------------------- slashing

    /// @inheritdoc INodeRegistry
    function slash(address node, uint256 amount, bytes32 reason) external nonReentrant returns (uint256 slashed) {
        if (!_slashers[msg.sender]) revert NotSlasher(msg.sender);
        Node storage record = _registered(node);
        uint256 staked = record.stake;
        slashed = amount < staked ? amount : staked;
        record.stake = uint128(staked - slashed);
        address recipient = _slashRecipient;
        emit Slashed(node, msg.sender, reason, amount, slashed, recipient);
        if (slashed > 0) _token.safeTransfer(recipient, slashed);
    }

    // ---------------------------------------------------------------- owner

    /// @inheritdoc INodeRegistry
    /// @dev Immediate only before the first node registers (wiring at deployment); afterwards a
    ///      change waits one unbonding period (`applySlasherChange`), so no slasher can appear (or
    ///      vanish) under a stake that is already committed to queries: every query's challenge
    ///      deadline falls within one unbonding period of its request.
    function setSlasher(address slasher, bool allowed) external onlyOwner {
        if (slasher == address(0)) revert InvalidSlasher(slasher);
        if (_nodeList.length == 0) {
            _slashers[slasher] = allowed;
            emit SlasherSet(slasher, allowed);
            return;
        }
        uint64 executableAt = uint64(block.timestamp) + _unbondingPeriod;
        _pendingSlashers[slasher] = PendingSlasher({allowed: allowed, executableAt: executableAt});
        emit SlasherChangeProposed(slasher, allowed, executableAt);
    }

    /// @inheritdoc INodeRegistry
    function applySlasherChange(address slasher) external {
        PendingSlasher memory pending = _pendingSlashers[slasher];
        if (pending.executableAt == 0) revert NoSlasherChangePending(slasher);
        if (block.timestamp < pending.executableAt) {
            revert SlasherChangeNotYet(slasher, pending.executableAt, block.timestamp);
        }
        delete _pendingSlashers[slasher];
        _slashers[slasher] = pending.allowed;
        emit SlasherSet(slasher, pending.allowed);
    }

    /// @inheritdoc INodeRegistry
    function pendingSlasherChange(address slasher) external view returns (bool allowed, uint64 executableAt) {
        PendingSlasher memory pending = _pendingSlashers[slasher];
        return (pending.allowed, pending.executableAt);
    }

    /// @inheritdoc INodeRegistry
    function setSlashRecipient(address recipient) external onlyOwner {
        _setSlashRecipient(recipient);
    }

    /// @inheritdoc INodeRegistry
    function setMinStake(uint256 minStake_) external onlyOwner {
        _setMinStake(minStake_);
    }

    // ---------------------------------------------------------------- views

    /// @inheritdoc INodeRegistry
    function isEligible(address node) public view returns (bool) {
        Node storage record = _nodes[node];
        return record.registered && record.unlockTime == 0 && record.stake >= _minStake;
    }

    /// @inheritdoc INodeRegistry
    function getEligibleNodes(uint256 offset, uint256 limit) external view returns (address[] memory eligible) {
        uint256 end = _nodeList.length;
        if (offset >= end) return new address[](0);
        if (limit < end - offset) end = offset + limit;
        uint256 count;
        for (uint256 i = offset; i < end; ++i) {
            if (isEligible(_nodeList[i])) ++count;
        }
        eligible = new address[](count);
        uint256 found;
        for (uint256 i = offset; found < count; ++i) {
            address node = _nodeList[i];
            if (isEligible(node)) eligible[found++] = node;
        }
    }

    /// @inheritdoc INodeRegistry
    function hostsPart(address node, uint256 modelId, uint256 part) external view returns (bool) {
        return _hosts[node][modelId][part];
    }

    /// @inheritdoc INodeRegistry
    function assignmentTerms(
        address node,
        uint256 modelId,
        uint256 part
    ) external view returns (bool eligible, bool hosts, bytes32 encryptionKey, address ackSigner) {
        Node storage record = _nodes[node];
        return (isEligible(node), _hosts[node][modelId][part], record.encryptionKey, record.ackSigner);
    }

    /// @inheritdoc INodeRegistry
    function getNode(address node) external view returns (Node memory) {
        return _nodes[node];
    }

    /// @inheritdoc INodeRegistry
    function nodeCount() external view returns (uint256) {
        return _nodeList.length;
    }

    /// @inheritdoc INodeRegistry
    function nodeAt(uint256 index) external view returns (address) {
        return _nodeList[index];
    }

    /// @inheritdoc INodeRegistry
    function isSlasher(address account) external view returns (bool) {
        return _slashers[account];
    }

    /// @inheritdoc INodeRegistry
    function slashRecipient() external view returns (address) {
        return _slashRecipient;
    }

    /// @inheritdoc INodeRegistry
    function minStake() external view returns (uint256) {
        return _minStake;
    }

    /// @inheritdoc INodeRegistry
    function unbondingPeriod() external view returns (uint64) {
        return _unbondingPeriod;
    }

    /// @inheritdoc INodeRegistry
    function stakingToken() external view returns (address) {
        return address(_token);
    }

    // ---------------------------------------------------------------- internal

    function _registered(address account) private view returns (Node storage node) {
        node = _nodes[account];
        if (!node.registered) revert NodeNotRegistered(account);
    }

    function _setKeys(
        Node storage node,
        bytes32 encryptionKey,
        address ackSigner,
        string calldata endpoint,
        string calldata metadataURI
    ) private {
        if (encryptionKey == bytes32(0)) revert EncryptionKeyZero(msg.sender);
        if (ackSigner == address(0)) revert AckSignerZero(msg.sender);
        uint256 length = bytes(endpoint).length;
        if (length == 0 || length > MAX_ENDPOINT_LENGTH) {
            revert EndpointLengthInvalid(msg.sender, length, MAX_ENDPOINT_LENGTH);
        }
        node.encryptionKey = encryptionKey;
        node.ackSigner = ackSigner;
        node.endpoint = endpoint;
        node.metadataURI = metadataURI;
    }

    function _stake(Node storage node, uint256 amount) private {
        if (amount == 0) revert StakeAmountZero(msg.sender);
        if (node.unlockTime != 0) revert NodeUnbonding(msg.sender, node.unlockTime);
        uint256 total = node.stake + amount;
        node.stake = total.toUint128();
        emit Staked(msg.sender, amount, total);
        _token.safeTransferFrom(msg.sender, address(this), amount);
    }

    function _setMinStake(uint256 minStake_) private {
        if (minStake_ == 0 || minStake_ > MAX_MIN_STAKE) revert MinStakeOutOfBounds(minStake_, MAX_MIN_STAKE);
        _minStake = minStake_;
        emit MinStakeSet(minStake_);
    }

    function _setSlashRecipient(address recipient) private {
        if (recipient == address(0)) revert InvalidSlashRecipient(recipient);
        _slashRecipient = recipient;
        emit SlashRecipientSet(recipient);
    }
}
