// SPDX-License-Identifier: GPL-3.0-or-later
pragma solidity ^0.8.24;

import {IERC20Errors} from "@openzeppelin/contracts/interfaces/draft-IERC6093.sol";
import {IInferenceVerifierErrors} from "./IInferenceVerifier.sol";

/// @title Errors of the query market
/// @notice Also lists the errors that bubble up from the token (payment) and from a model's
///         verifier (malformed shapes), so clients decode them from the market's ABI.
interface IQueryMarketErrors is IERC20Errors, IInferenceVerifierErrors {
    /// @notice Thrown by `requestQuery*` when the model is unknown or inactive.
    error ModelNotActive(uint256 modelId);

    /// @notice Thrown by `requestQuery*` when the nodes, commitments and payloads do not all
    ///         number the model's shares k.
    error ShareCountMismatch(uint256 expected, uint256 nodes, uint256 commitments, uint256 payloads);

    /// @notice Thrown by `requestQuery*` when the deadline is not in (now, latest].
    error DeadlineOutOfRange(uint256 deadline, uint256 currentTime, uint256 latest);

    /// @notice Thrown by `requestQuery*` when an assigned node is not eligible.
    error NodeNotEligible(address node);

    /// @notice Thrown by `requestQuery*` when a node is assigned two shares.
    error DuplicateNode(address node);

    /// @notice Thrown by `requestQuery*` when a commitment is not a BN254 scalar field element.
    error CommitmentNotInField(uint256 shareIndex, uint256 commitment);

    /// @notice Thrown by `submitResult` and `settle` for an unknown query.
    error QueryNotFound(uint256 queryId);

    /// @notice Thrown by `submitResult` when the share index is not below the query's k.
    error ShareIndexOutOfRange(uint256 queryId, uint256 shareIndex, uint256 shareCount);

    /// @notice Thrown by `submitResult` and `claimPayouts` when the caller is not the node
    ///         assigned to the share.
    error NotAssignedNode(uint256 queryId, uint256 shareIndex, address caller, address node);

    /// @notice Thrown by `submitResult` when the share already has a result (replay).
    error ShareAlreadySubmitted(uint256 queryId, uint256 shareIndex);

    /// @notice Thrown by `submitResult` after the query's deadline.
    error DeadlinePassed(uint256 queryId, uint256 deadline, uint256 currentTime);

    /// @notice Thrown by `submitResult` when the model's verifier rejects the proof.
    error InvalidProof(uint256 queryId, uint256 shareIndex);

    /// @notice Thrown by `settle` up to and including the deadline.
    error DeadlineNotPassed(uint256 queryId, uint256 deadline, uint256 currentTime);

    /// @notice Thrown by `settle` for a query already settled.
    error QueryAlreadySettled(uint256 queryId);

    /// @notice Thrown by `claimPayouts` when the share has no unclaimed result (it is pending,
    ///         missed, already paid, or does not exist).
    error ShareNotClaimable(uint256 queryId, uint256 shareIndex, uint8 status);

    /// @notice Thrown by `claimPayouts` when the two arrays differ in length.
    error ClaimLengthMismatch(uint256 queryIds, uint256 shareIndexes);

    /// @notice Thrown by the constructor and `setFees` above MAX_PROTOCOL_FEE_BPS or
    ///         MAX_CONTRIBUTOR_FEE_BPS.
    error FeesOutOfBounds(uint16 protocolFeeBps, uint16 contributorFeeBps);

    /// @notice Thrown by the constructor and `setSlashAmount` above MAX_SLASH_AMOUNT.
    error SlashAmountOutOfBounds(uint256 slashAmount, uint256 max);

    /// @notice Thrown by the constructor and `setMaxDeadlineWindow` outside
    ///         [MIN_DEADLINE_WINDOW, nodeRegistry.unbondingPeriod()].
    error DeadlineWindowOutOfBounds(uint64 window, uint64 min, uint64 max);

    /// @notice Thrown by the constructor and `setTreasury` for the zero address.
    error InvalidTreasury(address treasury);

    /// @notice Thrown by the constructor and `setRewardsPool` for the zero address.
    error InvalidRewardsPool(address rewardsPool);

    /// @notice Thrown by the constructor when the token or a registry has no code.
    error InvalidContract(address account);
}

/// @title Events of the query market
interface IQueryMarketEvents {
    /// @notice `user` paid `fee` into escrow for a query to `modelId` at `modelVersion`; the
    ///         nodes must submit by `deadline`. One ShareAssigned per share follows.
    event QueryRequested(
        uint256 indexed queryId,
        uint256 indexed modelId,
        address indexed user,
        uint32 modelVersion,
        uint256 fee,
        uint64 deadline
    );

    /// @notice Share `shareIndex` of query `queryId` goes to `node`: its commitment and the share
    ///         (s_j, m_j, salt_j) encrypted to the node's key. The payload lives only here.
    event ShareAssigned(
        uint256 indexed queryId,
        uint256 shareIndex,
        address indexed node,
        uint256 commitment,
        bytes encryptedPayload
    );

    /// @notice `node` proved share `shareIndex` of query `queryId`; its masked `outputs`. The share
    ///         is now claimable by the node for `shareSplit(queryId)`'s payout.
    event ResultSubmitted(uint256 indexed queryId, uint256 shareIndex, address indexed node, uint256[] outputs);

    /// @notice `node` missed share `shareIndex` of query `queryId` and lost `slashed` stake.
    event ShareMissed(uint256 indexed queryId, uint256 shareIndex, address indexed node, uint256 slashed);

    /// @notice Query `queryId` was settled: `missedShares` missed, `refund` returned to `user`.
    event QuerySettled(uint256 indexed queryId, address indexed user, uint256 missedShares, uint256 refund);

    /// @notice `node` was paid `payout` for `shares` proven shares; their `protocolCut` and
    ///         `contributorCut` were booked for sweeping.
    event PayoutsClaimed(
        address indexed node,
        uint256 shares,
        uint256 payout,
        uint256 protocolCut,
        uint256 contributorCut
    );

    /// @notice Accrued protocol fees went to `treasury` and contributor cuts to `rewardsPool`.
    event FeesSwept(
        address indexed treasury,
        uint256 protocolFees,
        address indexed rewardsPool,
        uint256 contributorFees
    );

    /// @notice New queries pay these cuts (basis points of each share's fee).
    event FeesSet(uint16 protocolFeeBps, uint16 contributorFeeBps);

    /// @notice Protocol fees now go to `treasury`.
    event TreasurySet(address indexed treasury);

    /// @notice Contributor cuts now go to `rewardsPool`.
    event RewardsPoolSet(address indexed rewardsPool);

    /// @notice A missed share now costs its node `slashAmount` of stake.
    event SlashAmountSet(uint256 slashAmount);

    /// @notice New queries may set a deadline at most `window` seconds ahead.
    event MaxDeadlineWindowSet(uint64 window);
}

/// @title Query market: escrow, proof-checked payment, settlement
/// @notice A user escrows a model's price and assigns each of the model's k shares to a distinct
///         eligible node, with the share's commitment and encrypted payload. Each node proves its
///         share before the deadline and is credited at once; after the deadline anyone settles:
///         the user is refunded for missing shares and their nodes are slashed.
/// @dev Token conservation, per query: fee = sum(payouts) + protocol cuts + contributor cuts +
///      refund, where unclaimed shares and unsettled shares stay in escrow.
///      Payment is a credit: a proven share is itself the node's claim, paid (with its cuts booked
///      for `sweepFees`) when the node calls `claimPayouts` for any batch of its shares, at any
///      time. `submitResult` then writes one storage slot (the share's status) instead of a token
///      transfer (~15k gas more) or a per-node balance (~22k more for a node's first result).
///      Known risk: settling is permissionless but not automatic; a node that requests unstake
///      escapes the slash for a missed share if nobody settles before it withdraws (at least
///      unbondingPeriod - maxDeadlineWindow after the deadline).
interface IQueryMarket is IQueryMarketErrors, IQueryMarketEvents {
    /// @notice Share status. `None` only for shares that do not exist. `Submitted` shares are
    ///         proven and not yet paid; `Paid` ones were claimed by their node.
    enum ShareStatus {
        None,
        Pending,
        Submitted,
        Paid,
        Missed
    }

    /// @notice A query, as recorded at request time (fees, verifier and version are snapshots).
    /// @dev Field order is storage order: `submitResult` reads only the first slot.
    struct Query {
        address verifier;
        uint40 deadline;
        uint16 protocolFeeBps;
        uint16 contributorFeeBps;
        uint8 shareCount;
        bool settled;
        address user;
        uint96 feePerShare;
        uint64 modelId;
        uint32 modelVersion;
    }

    /// @notice One share of a query.
    struct Share {
        address node;
        ShareStatus status;
        uint256 commitment;
    }

    /// @notice An ERC-2612 permit for the query fee.
    struct Permit {
        uint256 value;
        uint256 deadline;
        uint8 v;
        bytes32 r;
        bytes32 s;
    }

    /// @notice Request a query, paying the model's price with transferFrom (approve first).
    /// @param modelId The model; its current version is used.
    /// @param nodes k distinct eligible nodes; share j goes to nodes[j].
    /// @param commitments c_j = Poseidon(s_j, m_j, salt_j), BN254 field elements.
    /// @param encryptedPayloads The shares encrypted to each node's key (emitted, not stored).
    /// @param deadline Last timestamp at which results are accepted, at most
    ///        `maxDeadlineWindow()` seconds ahead.
    /// @return queryId The new query's id (ids start at 1).
    function requestQuery(
        uint256 modelId,
        address[] calldata nodes,
        uint256[] calldata commitments,
        bytes[] calldata encryptedPayloads,
        uint256 deadline
    ) external returns (uint256 queryId);

    /// @notice `requestQuery`, with an ERC-2612 permit for the fee in the same transaction.
    /// @dev A permit that fails (for example because it was front-run and already used) is
    ///      ignored; the payment then succeeds if the allowance suffices.
    function requestQueryWithPermit(
        uint256 modelId,
        address[] calldata nodes,
        uint256[] calldata commitments,
        bytes[] calldata encryptedPayloads,
        uint256 deadline,
        Permit calldata permit
    ) external returns (uint256 queryId);

    /// @notice Submit the proven result of share `shareIndex` of `queryId`. Only the assigned
    ///         node, once, up to the deadline. The model version's verifier must accept `proof`
    ///         for public inputs [commitment, outputs...]; the share then is the node's credit,
    ///         claimable with `claimPayouts` at any time.
    /// @param outputs out_j = W s_j + m_j (mod r), the model's output size many.
    /// @param proof The 256-byte Groth16 proof.
    function submitResult(
        uint256 queryId,
        uint256 shareIndex,
        uint256[] calldata outputs,
        bytes calldata proof
    ) external;

    /// @notice After the deadline: refund the user for shares without a result and slash their
    ///         nodes. Anyone may call, once per query.
    function settle(uint256 queryId) external;

    /// @notice Pay the caller for its proven shares (queryIds[i], shareIndexes[i]), in one
    ///         transfer, and book their protocol and contributor cuts.
    /// @return payout The amount paid.
    function claimPayouts(
        uint256[] calldata queryIds,
        uint256[] calldata shareIndexes
    ) external returns (uint256 payout);

    /// @notice Send accrued protocol fees to the treasury and contributor cuts to the rewards
    ///         pool. Anyone may call.
    function sweepFees() external;

    /// @notice Set the cuts for new queries, in basis points of a share's fee. Owner only.
    function setFees(uint16 protocolFeeBps, uint16 contributorFeeBps) external;

    /// @notice Set where protocol fees go. Owner only.
    function setTreasury(address treasury) external;

    /// @notice Set where contributor cuts go. Owner only.
    function setRewardsPool(address rewardsPool) external;

    /// @notice Set the stake a node loses per missed share, up to MAX_SLASH_AMOUNT. Owner only.
    function setSlashAmount(uint256 slashAmount) external;

    /// @notice Set how far ahead a deadline may be, at most the node registry's unbonding period.
    ///         Owner only.
    function setMaxDeadlineWindow(uint64 window) external;

    /// @notice A query (all zero for an unknown id).
    function getQuery(uint256 queryId) external view returns (Query memory);

    /// @notice A share of a query (all zero for an unknown one).
    function getShare(uint256 queryId, uint256 shareIndex) external view returns (Share memory);

    /// @notice How a share's fee splits: node payout, protocol cut, contributor cut.
    function shareSplit(
        uint256 queryId
    ) external view returns (uint256 payout, uint256 protocolCut, uint256 contributorCut);

    /// @notice The number of queries made (the highest id).
    function queryCount() external view returns (uint256);

    /// @notice Protocol fees and contributor cuts accrued and not yet swept.
    function accruedFees() external view returns (uint256 protocolFees, uint256 contributorFees);

    /// @notice Current cuts for new queries, in basis points.
    function fees() external view returns (uint16 protocolFeeBps, uint16 contributorFeeBps);

    /// @notice Where protocol fees go.
    function treasury() external view returns (address);

    /// @notice Where contributor cuts go.
    function rewardsPool() external view returns (address);

    /// @notice Stake a node loses per missed share.
    function slashAmount() external view returns (uint256);

    /// @notice How far ahead a new query's deadline may be, in seconds.
    function maxDeadlineWindow() external view returns (uint64);

    /// @notice The payment token (immutable).
    function token() external view returns (address);

    /// @notice The node registry that decides eligibility and is called to slash (immutable).
    function nodeRegistry() external view returns (address);

    /// @notice The model registry that queries read their model version from (immutable).
    function modelRegistry() external view returns (address);
}
