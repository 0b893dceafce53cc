// SPDX-License-Identifier: GPL-3.0-or-later
pragma solidity ^0.8.24;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";
import {Ownable2Step} from "@openzeppelin/contracts/access/Ownable2Step.sol";
import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";
import {MerkleProof} from "@openzeppelin/contracts/utils/cryptography/MerkleProof.sol";
import {IContributorRewards} from "./interfaces/IContributorRewards.sol";

/// @title Contributor reward pool
/// @notice Merkle-distributed rewards for data contributors, per epoch. See `IContributorRewards`.
/// @dev Known risk: an aggregator is trusted to post a root whose leaves are the epoch's fair
///      rewards; the contract only caps what an epoch can pay out at its posted total.
contract ContributorRewards is IContributorRewards, Ownable2Step, ReentrancyGuardTransient {
    using SafeERC20 for IERC20;

    /// @notice Bounds of the claim window.
    uint64 public constant MIN_CLAIM_WINDOW = 1 days;
    uint64 public constant MAX_CLAIM_WINDOW = 365 days;

    IERC20 private immutable _token;
    uint64 private _claimWindow;
    uint256 private _reserved;
    uint256 private _epochCount;
    mapping(address account => bool) private _aggregators;
    mapping(uint256 epoch => Epoch) private _epochs;
    mapping(uint256 epoch => mapping(bytes32 leaf => bool)) private _claimed;

    /// @param owner_ Owner (sets aggregators and the claim window).
    /// @param token The reward token.
    /// @param claimWindow_ How long an epoch stays claimable, in [MIN_CLAIM_WINDOW, MAX_CLAIM_WINDOW].
    constructor(address owner_, IERC20 token, uint64 claimWindow_) Ownable(owner_) {
        if (address(token).code.length == 0) revert ContributorRewardsInvalidToken(address(token));
        _token = token;
        _setClaimWindow(claimWindow_);
    }

    /// @inheritdoc IContributorRewards
    function postEpoch(bytes32 root, uint256 total) external returns (uint256 epoch) {
        if (!_aggregators[msg.sender]) revert NotAggregator(msg.sender);
        if (root == bytes32(0)) revert RootZero(total);
        uint256 free = available();
        if (total > free) revert InsufficientRewards(total, free);
        _reserved += total;
        epoch = ++_epochCount;
        uint64 claimDeadline = uint64(block.timestamp) + _claimWindow;
        _epochs[epoch] = Epoch({root: root, total: total, claimed: 0, claimDeadline: claimDeadline, closed: false});
        emit EpochPosted(epoch, msg.sender, root, total, claimDeadline);
    }

    /// @inheritdoc IContributorRewards
    function claim(uint256 epoch, address contributor, uint256 amount, bytes32[] calldata proof) external nonReentrant {
        Epoch storage record = _existing(epoch);
        if (record.closed || block.timestamp > record.claimDeadline) {
            revert ClaimWindowClosed(epoch, record.claimDeadline);
        }
        bytes32 leaf = _leaf(contributor, amount);
        if (_claimed[epoch][leaf]) revert AlreadyClaimed(epoch, contributor, amount);
        if (!MerkleProof.verifyCalldata(proof, record.root, leaf)) {
            revert InvalidMerkleProof(epoch, contributor, amount);
        }
        uint256 claimed = record.claimed;
        if (claimed + amount > record.total) revert EpochTotalExceeded(epoch, claimed, amount, record.total);
        _claimed[epoch][leaf] = true;
        record.claimed = claimed + amount;
        _reserved -= amount;
        emit Claimed(epoch, contributor, amount);
        _token.safeTransfer(contributor, amount);
    }

    /// @inheritdoc IContributorRewards
    function closeEpoch(uint256 epoch) external {
        Epoch storage record = _existing(epoch);
        if (record.closed) revert EpochAlreadyClosed(epoch);
        if (block.timestamp <= record.claimDeadline) revert EpochStillOpen(epoch, record.claimDeadline);
        record.closed = true;
        uint256 rolledOver = record.total - record.claimed;
        _reserved -= rolledOver;
        emit EpochClosed(epoch, rolledOver);
    }

    /// @inheritdoc IContributorRewards
    function setAggregator(address aggregator, bool allowed) external onlyOwner {
        if (aggregator == address(0)) revert InvalidAggregator(aggregator);
        _aggregators[aggregator] = allowed;
        emit AggregatorSet(aggregator, allowed);
    }

    /// @inheritdoc IContributorRewards
    function setClaimWindow(uint64 window) external onlyOwner {
        _setClaimWindow(window);
    }

    /// @inheritdoc IContributorRewards
    function isClaimed(uint256 epoch, address contributor, uint256 amount) external view returns (bool) {
        return _claimed[epoch][_leaf(contributor, amount)];
    }

    /// @inheritdoc IContributorRewards
    function getEpoch(uint256 epoch) external view returns (Epoch memory) {
        return _epochs[epoch];
    }

    /// @inheritdoc IContributorRewards
    function epochCount() external view returns (uint256) {
        return _epochCount;
    }

    /// @inheritdoc IContributorRewards
    function available() public view returns (uint256) {
        return _token.balanceOf(address(this)) - _reserved;
    }

    /// @inheritdoc IContributorRewards
    function reserved() external view returns (uint256) {
        return _reserved;
    }

    /// @inheritdoc IContributorRewards
    function isAggregator(address account) external view returns (bool) {
        return _aggregators[account];
    }

    /// @inheritdoc IContributorRewards
    function claimWindow() external view returns (uint64) {
        return _claimWindow;
    }

    /// @inheritdoc IContributorRewards
    function rewardToken() external view returns (address) {
        return address(_token);
    }

    function _existing(uint256 epoch) private view returns (Epoch storage record) {
        record = _epochs[epoch];
        if (record.root == bytes32(0)) revert EpochNotFound(epoch);
    }

    /// @dev OpenZeppelin StandardMerkleTree leaf of ["address", "uint256"].
    function _leaf(address contributor, uint256 amount) private pure returns (bytes32) {
        return keccak256(bytes.concat(keccak256(abi.encode(contributor, amount))));
    }

    function _setClaimWindow(uint64 window) private {
        if (window < MIN_CLAIM_WINDOW || window > MAX_CLAIM_WINDOW) {
            revert ClaimWindowOutOfBounds(window, MIN_CLAIM_WINDOW, MAX_CLAIM_WINDOW);
        }
        _claimWindow = window;
        emit ClaimWindowSet(window);
    }
}
