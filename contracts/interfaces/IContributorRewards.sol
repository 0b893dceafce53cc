// SPDX-License-Identifier: GPL-3.0-or-later
pragma solidity ^0.8.24;

/// @title Errors of the contributor reward pool
interface IContributorRewardsErrors {
    /// @notice Thrown by `postEpoch` when the caller is not an authorised aggregator.
    error NotAggregator(address caller);

    /// @notice Thrown by `postEpoch` when the Merkle root is zero.
    error RootZero(uint256 total);

    /// @notice Thrown by `postEpoch` when the epoch's total exceeds the unallocated balance.
    error InsufficientRewards(uint256 total, uint256 available);

    /// @notice Thrown by `claim` and `closeEpoch` for an epoch that was never posted.
    error EpochNotFound(uint256 epoch);

    /// @notice Thrown by `claim` after the epoch's claim deadline (or once it is closed).
    error ClaimWindowClosed(uint256 epoch, uint64 claimDeadline);

    /// @notice Thrown by `claim` when the leaf (account, amount) was already claimed.
    error AlreadyClaimed(uint256 epoch, address account, uint256 amount);

    /// @notice Thrown by `claim` when the proof does not lead to the epoch's root.
    error InvalidMerkleProof(uint256 epoch, address account, uint256 amount);

    /// @notice Thrown by `claim` when a claim would take the epoch past its posted total.
    error EpochTotalExceeded(uint256 epoch, uint256 claimed, uint256 amount, uint256 total);

    /// @notice Thrown by `closeEpoch` up to and including the claim deadline.
    error EpochStillOpen(uint256 epoch, uint64 claimDeadline);

    /// @notice Thrown by `closeEpoch` for an epoch already closed.
    error EpochAlreadyClosed(uint256 epoch);

    /// @notice Thrown by the constructor and `setClaimWindow` outside
    ///         [MIN_CLAIM_WINDOW, MAX_CLAIM_WINDOW].
    error ClaimWindowOutOfBounds(uint64 window, uint64 min, uint64 max);

    /// @notice Thrown by `setAggregator` for the zero address.
    error InvalidAggregator(address aggregator);

    /// @notice Thrown by the constructor when the token has no code.
    error ContributorRewardsInvalidToken(address token);
}

/// @title Events of the contributor reward pool
interface IContributorRewardsEvents {
    /// @notice `aggregator` posted epoch `epoch`: `root` commits to (contributor, amount) leaves
    ///         summing to at most `total`, claimable until `claimDeadline`.
    event EpochPosted(
        uint256 indexed epoch,
        address indexed aggregator,
        bytes32 root,
        uint256 total,
        uint64 claimDeadline
    );

    /// @notice `contributor` claimed `amount` from epoch `epoch`.
    event Claimed(uint256 indexed epoch, address indexed contributor, uint256 amount);

    /// @notice Epoch `epoch` closed; its unclaimed `rolledOver` returns to the pool for later epochs.
    event EpochClosed(uint256 indexed epoch, uint256 rolledOver);

    /// @notice The owner allowed or disallowed `aggregator`.
    event AggregatorSet(address indexed aggregator, bool allowed);

    /// @notice Epochs posted from now on are claimable for `window` seconds.
    event ClaimWindowSet(uint64 window);
}

/// @title Contributor reward pool
/// @notice Receives the contributor cut of query fees (plain token transfers, e.g. the market's
///         `sweepFees`). An authorised aggregator posts, per training epoch, the Merkle root of
///         (contributor, amount) leaves in OpenZeppelin's StandardMerkleTree format
///         (leaf = keccak256(bytes.concat(keccak256(abi.encode(contributor, amount))))) and the
///         epoch's total, which is reserved out of the unallocated balance. Each leaf is claimable
///         once until the epoch's claim deadline; after it, anyone closes the epoch and the
///         unclaimed rest rolls over into the unallocated balance.
interface IContributorRewards is IContributorRewardsErrors, IContributorRewardsEvents {
    /// @notice A posted epoch.
    struct Epoch {
        bytes32 root;
        uint256 total;
        uint256 claimed;
        uint64 claimDeadline;
        bool closed;
    }

    /// @notice Post a new epoch's Merkle root and total. Aggregators only.
    /// @return epoch The new epoch's id (ids start at 1).
    function postEpoch(bytes32 root, uint256 total) external returns (uint256 epoch);

    /// @notice Pay `amount` to `contributor` for epoch `epoch`, given the leaf's Merkle proof.
    ///         Anyone may submit it; the tokens always go to `contributor`.
    function claim(uint256 epoch, address contributor, uint256 amount, bytes32[] calldata proof) external;

    /// @notice After the claim deadline: release the epoch's unclaimed rest. Anyone may call.
    function closeEpoch(uint256 epoch) external;

    /// @notice Allow or disallow `aggregator` to post epochs. Owner only.
    function setAggregator(address aggregator, bool allowed) external;

    /// @notice Set the claim window of epochs posted from now on. Owner only.
    function setClaimWindow(uint64 window) external;

    /// @notice Whether the leaf (contributor, amount) of `epoch` was claimed.
    function isClaimed(uint256 epoch, address contributor, uint256 amount) external view returns (bool);

    /// @notice A posted epoch (all zero for an unknown one).
    function getEpoch(uint256 epoch) external view returns (Epoch memory);

    /// @notice The number of posted epochs (the highest id).
    function epochCount() external view returns (uint256);

    /// @notice Balance not reserved by open epochs: what the next epoch may distribute.
    function available() external view returns (uint256);

    /// @notice Tokens reserved by open epochs and not yet claimed.
    function reserved() external view returns (uint256);

    /// @notice Whether `account` may post epochs.
    function isAggregator(address account) external view returns (bool);

    /// @notice How long epochs posted from now on stay claimable, in seconds.
    function claimWindow() external view returns (uint64);

    /// @notice The reward token.
    function rewardToken() external view returns (address);
}
