// SPDX-License-Identifier: GPL-3.0-or-later
pragma solidity ^0.8.24;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {IERC20Permit} from "@openzeppelin/contracts/token/ERC20/extensions/IERC20Permit.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";
import {Ownable2Step} from "@openzeppelin/contracts/access/Ownable2Step.sol";
import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";
import {SafeCast} from "@openzeppelin/contracts/utils/math/SafeCast.sol";
import {IQueryMarket} from "./interfaces/IQueryMarket.sol";
import {INodeRegistry} from "./interfaces/INodeRegistry.sol";
import {IModelRegistry} from "./interfaces/IModelRegistry.sol";
import {IInferenceVerifier} from "./interfaces/IInferenceVerifier.sol";

/// @title Query market
/// @notice Escrow, proof-checked payment and settlement of secret-shared inference queries.
///         See `IQueryMarket`.
/// @dev Storage is laid out for `submitResult`, the hot path: it reads one query slot and the
///      share's two slots and writes only the share's status. Outputs and encrypted payloads live
///      only in events.
contract QueryMarket is IQueryMarket, Ownable2Step, ReentrancyGuardTransient {
    using SafeERC20 for IERC20;
    using SafeCast for uint256;

    /// @notice The BN254 scalar field order r: commitments and outputs are below it.
    uint256 public constant SNARK_SCALAR_FIELD =
        21888242871839275222246405745257275088548364400416034343698204186575808495617;
    /// @notice Upper bounds of the cuts, in basis points of a share's fee.
    uint16 public constant MAX_PROTOCOL_FEE_BPS = 1_000;
    uint16 public constant MAX_CONTRIBUTOR_FEE_BPS = 2_000;
    uint16 public constant BPS = 10_000;
    /// @notice Upper bound of the stake slashed per missed share.
    uint256 public constant MAX_SLASH_AMOUNT = 1_000_000 ether;
    /// @notice Lower bound of the deadline window (its upper bound is the unbonding period).
    uint64 public constant MIN_DEADLINE_WINDOW = 1 minutes;

    IERC20 private immutable _token;
    INodeRegistry private immutable _nodeRegistry;
    IModelRegistry private immutable _modelRegistry;

    uint16 private _protocolFeeBps;
    uint16 private _contributorFeeBps;
    uint64 private _maxDeadlineWindow;
    address private _treasury;
    address private _rewardsPool;
    uint256 private _slashAmount;

    uint128 private _accruedProtocolFees;
    uint128 private _accruedContributorFees;

    uint256 private _queryCount;
    mapping(uint256 queryId => Query) private _queries;
    mapping(uint256 queryId => mapping(uint256 shareIndex => Share)) private _shares;

    /// @notice Deployment settings (a struct keeps the constructor readable).
    struct Config {
        address owner;
        IERC20 token;
        INodeRegistry nodeRegistry;
        IModelRegistry modelRegistry;
        address treasury;
        address rewardsPool;
        uint16 protocolFeeBps;
        uint16 contributorFeeBps;
        uint256 slashAmount;
        uint64 maxDeadlineWindow;
    }

    constructor(Config memory config) Ownable(config.owner) {
        _requireContract(address(config.token));
        _requireContract(address(config.nodeRegistry));
        _requireContract(address(config.modelRegistry));
        _token = config.token;
        _nodeRegistry = config.nodeRegistry;
        _modelRegistry = config.modelRegistry;
        _setTreasury(config.treasury);
        _setRewardsPool(config.rewardsPool);
        _setFees(config.protocolFeeBps, config.contributorFeeBps);
        _setSlashAmount(config.slashAmount);
        _setMaxDeadlineWindow(config.maxDeadlineWindow);
    }

    // ---------------------------------------------------------------- users

    /// @inheritdoc IQueryMarket
    function requestQuery(
        uint256 modelId,
        address[] calldata nodes,
        uint256[] calldata commitments,
        bytes[] calldata encryptedPayloads,
        uint256 deadline
    ) external nonReentrant returns (uint256 queryId) {
        return _requestQuery(modelId, nodes, commitments, encryptedPayloads, deadline);
    }

    /// @inheritdoc IQueryMarket
    function requestQueryWithPermit(
        uint256 modelId,
        address[] calldata nodes,
        uint256[] calldata commitments,
        bytes[] calldata encryptedPayloads,
        uint256 deadline,
        Permit calldata permit
    ) external nonReentrant returns (uint256 queryId) {
        // A front-run permit must not block the query: if the permit fails, the transferFrom
        // below still succeeds when the allowance suffices, and fails with the token's error if not.
        try
            IERC20Permit(address(_token)).permit(
                msg.sender,
                address(this),
                permit.value,
                permit.deadline,
                permit.v,
                permit.r,
                permit.s
            )
        {} catch {}
        return _requestQuery(modelId, nodes, commitments, encryptedPayloads, deadline);
    }

    // ---------------------------------------------------------------- nodes

    /// @inheritdoc IQueryMarket
    function submitResult(
        uint256 queryId,
        uint256 shareIndex,
        uint256[] calldata outputs,
        bytes calldata proof
    ) external nonReentrant {
        Query storage query = _queries[queryId];
        uint256 deadline = query.deadline;
        if (deadline == 0) revert QueryNotFound(queryId);
        if (block.timestamp > deadline) revert DeadlinePassed(queryId, deadline, block.timestamp);
        if (shareIndex >= query.shareCount) revert ShareIndexOutOfRange(queryId, shareIndex, query.shareCount);
        Share storage share = _shares[queryId][shareIndex];
        if (share.node != msg.sender) revert NotAssignedNode(queryId, shareIndex, msg.sender, share.node);
        if (share.status != ShareStatus.Pending) revert ShareAlreadySubmitted(queryId, shareIndex);

        uint256[] memory publicInputs = new uint256[](outputs.length + 1);
        publicInputs[0] = share.commitment;
        for (uint256 i = 0; i < outputs.length; ++i) {
            publicInputs[i + 1] = outputs[i];
        }
        if (!IInferenceVerifier(query.verifier).verify(publicInputs, proof)) revert InvalidProof(queryId, shareIndex);

        share.status = ShareStatus.Submitted;
        emit ResultSubmitted(queryId, shareIndex, msg.sender, outputs);
    }

    /// @inheritdoc IQueryMarket
    function claimPayouts(
        uint256[] calldata queryIds,
        uint256[] calldata shareIndexes
    ) external nonReentrant returns (uint256 payout) {
        if (queryIds.length != shareIndexes.length) revert ClaimLengthMismatch(queryIds.length, shareIndexes.length);
        uint256 protocolCuts;
        uint256 contributorCuts;
        for (uint256 i = 0; i < queryIds.length; ++i) {
            (uint256 queryId, uint256 shareIndex) = (queryIds[i], shareIndexes[i]);
            Share storage share = _shares[queryId][shareIndex];
            if (share.node != msg.sender) revert NotAssignedNode(queryId, shareIndex, msg.sender, share.node);
            if (share.status != ShareStatus.Submitted) {
                revert ShareNotClaimable(queryId, shareIndex, uint8(share.status));
            }
            share.status = ShareStatus.Paid;
            (uint256 sharePayout, uint256 protocolCut, uint256 contributorCut) = _split(_queries[queryId]);
            payout += sharePayout;
            protocolCuts += protocolCut;
            contributorCuts += contributorCut;
        }
        _accruedProtocolFees += protocolCuts.toUint128();
        _accruedContributorFees += contributorCuts.toUint128();
        emit PayoutsClaimed(msg.sender, queryIds.length, payout, protocolCuts, contributorCuts);
        if (payout > 0) _token.safeTransfer(msg.sender, payout);
    }

    // ---------------------------------------------------------------- anyone

    /// @inheritdoc IQueryMarket
    function settle(uint256 queryId) external nonReentrant {
        Query storage query = _queries[queryId];
        uint256 deadline = query.deadline;
        if (deadline == 0) revert QueryNotFound(queryId);
        if (block.timestamp <= deadline) revert DeadlineNotPassed(queryId, deadline, block.timestamp);
        if (query.settled) revert QueryAlreadySettled(queryId);
        query.settled = true;

        uint256 shareCount = query.shareCount;
        uint256 slashAmount_ = _slashAmount;
        uint256 missed;
        for (uint256 i = 0; i < shareCount; ++i) {
            Share storage share = _shares[queryId][i];
            if (share.status != ShareStatus.Pending) continue;
            share.status = ShareStatus.Missed;
            ++missed;
            uint256 slashed = slashAmount_ == 0 ? 0 : _nodeRegistry.slash(share.node, slashAmount_, bytes32(queryId));
            emit ShareMissed(queryId, i, share.node, slashed);
        }
        uint256 refund = missed * query.feePerShare;
        address user = query.user;
        emit QuerySettled(queryId, user, missed, refund);
        if (refund > 0) _token.safeTransfer(user, refund);
    }

    /// @inheritdoc IQueryMarket
    function sweepFees() external nonReentrant {
        uint256 protocolFees = _accruedProtocolFees;
        uint256 contributorFees = _accruedContributorFees;
        _accruedProtocolFees = 0;
        _accruedContributorFees = 0;
        address treasury_ = _treasury;
        address rewardsPool_ = _rewardsPool;
        emit FeesSwept(treasury_, protocolFees, rewardsPool_, contributorFees);
        if (protocolFees > 0) _token.safeTransfer(treasury_, protocolFees);
        if (contributorFees > 0) _token.safeTransfer(rewardsPool_, contributorFees);
    }

    // ---------------------------------------------------------------- owner

    /// @inheritdoc IQueryMarket
    function setFees(uint16 protocolFeeBps, uint16 contributorFeeBps) external onlyOwner {
        _setFees(protocolFeeBps, contributorFeeBps);
    }

    /// @inheritdoc IQueryMarket
    function setTreasury(address treasury_) external onlyOwner {
        _setTreasury(treasury_);
    }

    /// @inheritdoc IQueryMarket
    function setRewardsPool(address rewardsPool_) external onlyOwner {
        _setRewardsPool(rewardsPool_);
    }

    /// @inheritdoc IQueryMarket
    function setSlashAmount(uint256 slashAmount_) external onlyOwner {
        _setSlashAmount(slashAmount_);
    }

    /// @inheritdoc IQueryMarket
    function setMaxDeadlineWindow(uint64 window) external onlyOwner {
        _setMaxDeadlineWindow(window);
    }

    // ---------------------------------------------------------------- views

    /// @inheritdoc IQueryMarket
    function getQuery(uint256 queryId) external view returns (Query memory) {
        return _queries[queryId];
    }

    /// @inheritdoc IQueryMarket
    function getShare(uint256 queryId, uint256 shareIndex) external view returns (Share memory) {
        return _shares[queryId][shareIndex];
    }

    /// @inheritdoc IQueryMarket
    function shareSplit(
        uint256 queryId
    ) external view returns (uint256 payout, uint256 protocolCut, uint256 contributorCut) {
        return _split(_queries[queryId]);
    }

    /// @inheritdoc IQueryMarket
    function queryCount() external view returns (uint256) {
        return _queryCount;
    }

    /// @inheritdoc IQueryMarket
    function accruedFees() external view returns (uint256 protocolFees, uint256 contributorFees) {
        return (_accruedProtocolFees, _accruedContributorFees);
    }

    /// @inheritdoc IQueryMarket
    function fees() external view returns (uint16 protocolFeeBps, uint16 contributorFeeBps) {
        return (_protocolFeeBps, _contributorFeeBps);
    }

    /// @inheritdoc IQueryMarket
    function treasury() external view returns (address) {
        return _treasury;
    }

    /// @inheritdoc IQueryMarket
    function rewardsPool() external view returns (address) {
        return _rewardsPool;
    }

    /// @inheritdoc IQueryMarket
    function slashAmount() external view returns (uint256) {
        return _slashAmount;
    }

    /// @inheritdoc IQueryMarket
    function maxDeadlineWindow() external view returns (uint64) {
        return _maxDeadlineWindow;
    }

    /// @inheritdoc IQueryMarket
    function token() external view returns (address) {
        return address(_token);
    }

    /// @inheritdoc IQueryMarket
    function nodeRegistry() external view returns (address) {
        return address(_nodeRegistry);
    }

    /// @inheritdoc IQueryMarket
    function modelRegistry() external view returns (address) {
        return address(_modelRegistry);
    }

    // ---------------------------------------------------------------- internal

    function _requestQuery(
        uint256 modelId,
        address[] calldata nodes,
        uint256[] calldata commitments,
        bytes[] calldata encryptedPayloads,
        uint256 deadline
    ) private returns (uint256 queryId) {
        uint256 fee;
        (queryId, fee) = _recordQuery(modelId, nodes.length, commitments.length, encryptedPayloads.length, deadline);
        for (uint256 i = 0; i < nodes.length; ++i) {
            address node = nodes[i];
            if (!_nodeRegistry.isEligible(node)) revert NodeNotEligible(node);
            for (uint256 j = 0; j < i; ++j) {
                if (nodes[j] == node) revert DuplicateNode(node);
            }
            uint256 commitment = commitments[i];
            if (commitment >= SNARK_SCALAR_FIELD) revert CommitmentNotInField(i, commitment);
            _shares[queryId][i] = Share({node: node, status: ShareStatus.Pending, commitment: commitment});
            emit ShareAssigned(queryId, i, node, commitment, encryptedPayloads[i]);
        }
        if (fee > 0) _token.safeTransferFrom(msg.sender, address(this), fee);
    }

    /// @dev Checks the model, the share counts and the deadline; records the query header.
    function _recordQuery(
        uint256 modelId,
        uint256 nodeCount,
        uint256 commitmentCount,
        uint256 payloadCount,
        uint256 deadline
    ) private returns (uint256 queryId, uint256 fee) {
        (IModelRegistry.Model memory model, IModelRegistry.ModelVersion memory version) = _modelRegistry.getCurrent(
            modelId
        );
        if (!model.active) revert ModelNotActive(modelId);
        uint256 shareCount = version.shares;
        if (nodeCount != shareCount || commitmentCount != shareCount || payloadCount != shareCount) {
            revert ShareCountMismatch(shareCount, nodeCount, commitmentCount, payloadCount);
        }
        uint256 latest = block.timestamp + _maxDeadlineWindow;
        if (deadline <= block.timestamp || deadline > latest) {
            revert DeadlineOutOfRange(deadline, block.timestamp, latest);
        }
        queryId = ++_queryCount;
        uint256 feePerShare = version.pricePerQuery / shareCount;
        fee = feePerShare * shareCount;
        _queries[queryId] = Query({
            verifier: version.verifier,
            // deadline <= block.timestamp + maxDeadlineWindow (checked above), far below 2^40 s
            deadline: uint40(deadline),
            protocolFeeBps: _protocolFeeBps,
            contributorFeeBps: _contributorFeeBps,
            // ModelRegistry bounds a version's share count by MAX_SHARES (< 2^8)
            shareCount: uint8(shareCount),
            settled: false,
            user: msg.sender,
            feePerShare: feePerShare.toUint96(),
            modelId: modelId.toUint64(),
            modelVersion: model.latestVersion
        });
        emit QueryRequested(queryId, modelId, msg.sender, model.latestVersion, fee, uint64(deadline)); // bounded as above
    }

    function _split(
        Query storage query
    ) private view returns (uint256 payout, uint256 protocolCut, uint256 contributorCut) {
        uint256 feePerShare = query.feePerShare;
        protocolCut = (feePerShare * query.protocolFeeBps) / BPS;
        contributorCut = (feePerShare * query.contributorFeeBps) / BPS;
        payout = feePerShare - protocolCut - contributorCut;
    }

    function _requireContract(address account) private view {
        if (account.code.length == 0) revert InvalidContract(account);
    }

    function _setFees(uint16 protocolFeeBps, uint16 contributorFeeBps) private {
        if (protocolFeeBps > MAX_PROTOCOL_FEE_BPS || contributorFeeBps > MAX_CONTRIBUTOR_FEE_BPS) {
            revert FeesOutOfBounds(protocolFeeBps, contributorFeeBps);
        }
        _protocolFeeBps = protocolFeeBps;
        _contributorFeeBps = contributorFeeBps;
        emit FeesSet(protocolFeeBps, contributorFeeBps);
    }

    function _setTreasury(address treasury_) private {
        if (treasury_ == address(0)) revert InvalidTreasury(treasury_);
        _treasury = treasury_;
        emit TreasurySet(treasury_);
    }

    function _setRewardsPool(address rewardsPool_) private {
        if (rewardsPool_ == address(0)) revert InvalidRewardsPool(rewardsPool_);
        _rewardsPool = rewardsPool_;
        emit RewardsPoolSet(rewardsPool_);
    }

    function _setSlashAmount(uint256 slashAmount_) private {
        if (slashAmount_ > MAX_SLASH_AMOUNT) revert SlashAmountOutOfBounds(slashAmount_, MAX_SLASH_AMOUNT);
        _slashAmount = slashAmount_;
        emit SlashAmountSet(slashAmount_);
    }

    function _setMaxDeadlineWindow(uint64 window) private {
        uint64 max = _nodeRegistry.unbondingPeriod();
        if (window < MIN_DEADLINE_WINDOW || window > max) {
            revert DeadlineWindowOutOfBounds(window, MIN_DEADLINE_WINDOW, max);
        }
        _maxDeadlineWindow = window;
        emit MaxDeadlineWindowSet(window);
    }
}
