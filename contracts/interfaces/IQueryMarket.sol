// SPDX-License-Identifier: GPL-3.0-or-later
pragma solidity ^0.8.24;

import {IERC20Errors} from "@openzeppelin/contracts/interfaces/draft-IERC6093.sol";

/// @title Errors of the query market (protocol version 2)
/// @notice Also lists the token's errors (payment), so clients decode them from the market's ABI.
interface IQueryMarketErrors is IERC20Errors {
    /// @notice Thrown by `requestQuery` when a query with this id (same user and salt) exists.
    error QueryExists(bytes32 queryId);

    /// @notice Thrown by `requestQuery` when the session key is the zero address.
    error SessionKeyZero();

    /// @notice Thrown by `requestQuery` when the model is unknown or inactive.
    error ModelNotActive(uint256 modelId);

    /// @notice Thrown by `requestQuery` when the expected version is not the model's current one.
    error VersionMismatch(uint256 modelId, uint32 expected, uint32 current);

    /// @notice Thrown by `requestQuery` when `nodes` or `budgets` does not have one entry per part.
    error PartCountMismatch(uint256 parts, uint256 nodeLists, uint256 budgets);

    /// @notice Thrown by `requestQuery` when a part's node list does not have its k entries.
    error ShareCountMismatch(uint256 part, uint256 expected, uint256 actual);

    /// @notice Thrown by `requestQuery` when firstCommitments does not have part 0's k entries.
    error FirstCommitmentCountMismatch(uint256 expected, uint256 actual);

    /// @notice Thrown by `requestQuery` when a round-1 commitment is not below r.
    error CommitmentNotInField(uint256 index, uint256 commitment);

    /// @notice Thrown by `requestQuery` when a budget is outside [1, maxBudget of the part].
    error BudgetOutOfRange(uint256 part, uint32 budget, uint32 maxBudget);

    /// @notice Thrown by `requestQuery` when an assigned node is not eligible.
    error NodeNotEligible(address node);

    /// @notice Thrown by `requestQuery` when an assigned node does not host its part.
    error NodeNotHostingPart(address node, uint256 modelId, uint256 part);

    /// @notice Thrown by `requestQuery` when a node appears twice in one part.
    error DuplicateNode(uint256 part, address node);

    /// @notice Thrown by `requestQuery` when the escrow exceeds the fee cap.
    error FeeCapExceeded(uint256 escrow, uint256 feeCap);

    /// @notice Thrown by `requestQuery` when the round deadline is not in the future.
    error RoundDeadlineInPast(uint64 roundDeadline, uint256 currentTime);

    /// @notice Thrown by `requestQuery` when proofDeadline - roundDeadline is below the longest
    ///         minimum proof window of the query's parts or the market's floor (`required`).
    error ProofWindowTooShort(uint64 roundDeadline, uint64 proofDeadline, uint256 required);

    /// @notice Thrown by `requestQuery` when the challenge deadline plus the margin is beyond the
    ///         registry's unbonding period from now.
    error ChallengeDeadlineBeyondUnbonding(uint64 challengeDeadline, uint256 latest);

    /// @notice Thrown by `requestQuery` when the pinned version has an input rule and its validity
    ///         verifier rejects the user's validity proof for this query's public inputs.
    error InvalidValidityProof(bytes32 queryId);

    /// @notice Thrown for an unknown query.
    error QueryNotFound(bytes32 queryId);

    /// @notice Thrown when (query, part, node) is not an assignment.
    error NotAssigned(bytes32 queryId, uint256 part, address node);

    /// @notice Thrown by `claim` when the assignment's last claim was final (its budget used, or
    ///         a chunk of fewer than maxRounds rounds): nothing more can be claimed. `rounds` is
    ///         the recorded n.
    error AlreadyFinalised(bytes32 queryId, uint256 part, address node, uint32 rounds);

    /// @notice Thrown by `claim` after the proof deadline.
    error ClaimTooLate(bytes32 queryId, uint64 proofDeadline, uint256 currentTime);

    /// @notice Thrown by `claim` unless claimed < rounds <= budget (`claimed` = n0, the rounds
    ///         the assignment's previous chunks recorded, 0 before its first claim).
    error RoundsOutOfRange(uint32 rounds, uint32 claimed, uint32 budget);

    /// @notice Thrown by `claim` when a chunk has more than maxRounds (R_max) rounds:
    ///         rounds - startRounds > maxRounds. Claim at most R_max rounds past the last claim.
    error ChunkTooLong(uint32 rounds, uint32 startRounds, uint16 maxRounds);

    /// @notice Thrown by `claim` when the start transcripts are not the recorded ones: (0, 0) for
    ///         an assignment's first claim, else the (T_{n0}, O_{n0}) of its previous chunk
    ///         (keccak256(abi.encode(T, O)) equal to the recorded transcriptHash; the previous
    ///         `Claimed` event carries them).
    error StartTranscriptMismatch(bytes32 queryId, uint256 part, address node, uint32 startRounds);

    /// @notice Thrown by `claim` when the Round signature is not the query's session key's.
    error InvalidSessionSignature(bytes32 queryId, address recovered, address sessionKey);

    /// @notice Thrown by `claim` when the part's verifier rejects the proof.
    error InvalidProof(bytes32 queryId, uint256 part, address node);

    /// @notice Thrown by `slash` up to and including the proof deadline.
    error SlashTooEarly(bytes32 queryId, uint64 proofDeadline, uint256 currentTime);

    /// @notice Thrown by `slash` and `slashEquivocation` after the challenge deadline.
    error SlashTooLate(bytes32 queryId, uint64 challengeDeadline, uint256 currentTime);

    /// @notice Thrown by `slash` and `slashEquivocation` when the assignment was already slashed.
    error AlreadySlashed(bytes32 queryId, uint256 part, address node);

    /// @notice Thrown by `slash` and `slashEquivocation` when an Ack is not the recorded signer's.
    error InvalidAckSignature(bytes32 queryId, address recovered, address ackSigner);

    /// @notice Thrown by `slash` and `slashEquivocation` for round 0 (rounds start at 1).
    error RoundZero();

    /// @notice Thrown by `slash` when the Ack matches the claim (claimed n >= i, and T, O equal
    ///         when n == i): the node did what it acknowledged.
    error NotSlashable(bytes32 queryId, uint256 part, address node, uint32 round);

    /// @notice Thrown by `slashEquivocation` when both Acks carry the same (T, O).
    error NotEquivocation(bytes32 queryId, uint256 part, address node, uint32 round);

    /// @notice Thrown by `settle` before the proof deadline while an assignment is not finalised
    ///         (unclaimed, or claimed in chunks that may still continue).
    error SettleTooEarly(bytes32 queryId, uint64 proofDeadline, uint256 unfinalised);

    /// @notice Thrown by `settle` for a query already settled.
    error QueryAlreadySettled(bytes32 queryId);

    /// @notice Thrown by the constructor and `setFees` above MAX_PROTOCOL_FEE_BPS or
    ///         MAX_CONTRIBUTOR_FEE_BPS.
    error FeesOutOfBounds(uint16 protocolFeeBps, uint16 contributorFeeBps);

    /// @notice Thrown by the constructor and `setSlashAmount` above MAX_SLASH_AMOUNT.
    error SlashAmountOutOfBounds(uint256 slashAmount, uint256 max);

    /// @notice Thrown by the constructor and `setMinProofWindowFloor` outside its bounds.
    error ProofWindowFloorOutOfBounds(uint64 floor, uint64 min, uint64 max);

    /// @notice Thrown by the constructor and `setChallengeWindow` outside its bounds.
    error ChallengeWindowOutOfBounds(uint64 window, uint64 min, uint64 max);

    /// @notice Thrown by the constructor when the unbonding margin is outside its bounds.
    error UnbondingMarginOutOfBounds(uint64 margin, uint64 min, uint64 max);

    /// @notice Thrown by the constructor and the window setters when challengeWindow + floor +
    ///         margin is not below the node registry's unbonding period (no query could be made).
    error WindowsExceedUnbonding(uint256 total, uint64 unbondingPeriod);

    /// @notice Thrown by the constructor and `setTreasury` for the zero address.
    error InvalidTreasury(address treasury);

    /// @notice Thrown by the constructor and `setRewardsPool` for the zero address.
    error InvalidRewardsPool(address rewardsPool);

    /// @notice Thrown by the constructor when the token or a registry has no code.
    error InvalidContract(address account);
}

/// @title Events of the query market (protocol version 2)
interface IQueryMarketEvents {
    /// @notice `user` requested query `queryId` of model `modelId` at `version`, escrowing `escrow`.
    event QueryRequested(
        bytes32 indexed queryId,
        address indexed user,
        uint256 indexed modelId,
        uint32 version,
        uint256 escrow,
        uint64 roundDeadline,
        uint64 proofDeadline,
        uint64 challengeDeadline,
        address sessionKey
    );

    /// @notice `node` is assigned part `part` of the query with `budget` rounds at `price` each;
    ///         `firstCommitment` is its round-1 commitment for part 0 (0 for other parts).
    event Assigned(
        bytes32 indexed queryId,
        uint256 part,
        address indexed node,
        uint32 budget,
        uint96 price,
        uint256 firstCommitment
    );

    /// @notice `node` proved rounds n0+1..`rounds` of its assignment (one claim or one chunk; n0 is
    ///         the previous Claimed's `rounds`, 0 for the first) and was paid `payout` of `credit`
    ///         = (rounds - n0) * price. An assignment has several Claimed events when claimed in
    ///         chunks; `rounds` grows with each.
    event Claimed(
        bytes32 indexed queryId,
        uint256 part,
        address indexed node,
        uint32 rounds,
        uint256 inputTranscript,
        uint256 outputTranscript,
        uint256 credit,
        uint256 payout
    );

    /// @notice `node` was slashed `amount` (what the registry took) for its Ack of `round`.
    /// @param reason 1 = no claim, 2 = claimed fewer rounds, 3 = transcript differs,
    ///        4 = equivocation (two Acks of one round).
    event AssignmentSlashed(
        bytes32 indexed queryId,
        uint256 part,
        address indexed node,
        uint32 round,
        uint256 amount,
        uint8 reason
    );

    /// @notice The query was settled: `credits` went to nodes (and cuts), `refund` back to `user`.
    event QuerySettled(bytes32 indexed queryId, address indexed user, uint256 credits, uint256 refund);

    /// @notice Accrued cuts were sent to the treasury and the contributor rewards pool.
    event FeesSwept(
        address indexed treasury,
        uint256 protocolFees,
        address indexed rewardsPool,
        uint256 contributorFees
    );

    /// @notice The cuts of new queries are now these.
    event FeesSet(uint16 protocolFeeBps, uint16 contributorFeeBps);

    /// @notice Protocol cuts now go to `treasury`.
    event TreasurySet(address indexed treasury);

    /// @notice Contributor cuts now go to `rewardsPool`.
    event RewardsPoolSet(address indexed rewardsPool);

    /// @notice New queries record this slash amount.
    event SlashAmountSet(uint256 slashAmount);

    /// @notice New queries need at least this proof window.
    event MinProofWindowFloorSet(uint64 floor);

    /// @notice New queries get this challenge window.
    event ChallengeWindowSet(uint64 window);
}

/// @title Query market (protocol version 2)
/// @notice Escrow, per-assignment proven claims, slashing on signed Acks, and refunds of queries
///         that run in rounds over a model's parts. A query assigns k nodes to each part; an
///         assignment (query, part, node) has a budget of rounds, is claimed with Groth16 proofs
///         over (tag, n0, T_{n0}, O_{n0}, n, T_n, O_{n-1}, O_n) and the session key's Round
///         signature for round n (once, or in consecutive chunks of at most R_max rounds when its
///         budget is above R_max), and is slashable on the node's Ack it cannot back with its
///         latest claim. Every term a claim,
///         slash or settlement reads is recorded at request: later owner, registry or model
///         changes never touch a query in flight.
interface IQueryMarket is IQueryMarketErrors, IQueryMarketEvents {
    /// @notice A query request.
    /// @param salt Chosen by the user; queryId = keccak256(abi.encode(chainid, market, user, salt)).
    /// @param modelId The model.
    /// @param version The model version the user expects (must be the current one).
    /// @param feeCap Most the user will escrow.
    /// @param nodes nodes[p] = the k distinct nodes of part p.
    /// @param budgets budgets[p] = the round budget B of every assignment of part p.
    /// @param roundDeadline t_R: no round is served after it.
    /// @param proofDeadline t_P: no claim after it.
    /// @param sessionKey The address whose Round signatures authorise the rounds (new per query).
    /// @param firstCommitments firstCommitments[j] = round-1 commitment of part 0's j-th node.
    struct Request {
        bytes32 salt;
        uint256 modelId;
        uint32 version;
        uint256 feeCap;
        address[][] nodes;
        uint32[] budgets;
        uint64 roundDeadline;
        uint64 proofDeadline;
        address sessionKey;
        uint256[] firstCommitments;
    }

    /// @notice An ERC-2612 permit for the escrow (value 0: none, use the allowance).
    struct Permit {
        uint256 value;
        uint256 deadline;
        uint8 v;
        bytes32 r;
        bytes32 s;
    }

    /// @notice A query's record (all zero for an unknown id).
    /// @param sessionKey Signer of the query's Rounds.
    /// @param proofDeadline t_P.
    /// @param protocolBps Protocol cut recorded at request.
    /// @param contributorBps Contributor cut recorded at request.
    /// @param escrow E, escrowed at request.
    /// @param credits Sum of the claimed credits so far (not stored: `getQuery` derives it from
    ///        the assignments, as `settle` does).
    /// @param unclaimed Assignments not yet claimed (derived likewise).
    /// @param unfinalised Assignments not yet finalised: unclaimed, or claimed in chunks that may
    ///        continue (derived likewise; settle before t_P needs 0).
    /// @param settled Whether the refund was paid.
    /// @param user The requester (refunded at settle).
    /// @param roundDeadline t_R.
    /// @param version The model version pinned at request.
    /// @param challengeDeadline t_C = t_P + challenge window at request.
    /// @param slashAmount Stake slashed per slashable assignment, recorded at request.
    /// @param partCount Number of parts.
    /// @param modelId The model.
    struct Query {
        address sessionKey;
        uint64 proofDeadline;
        uint16 protocolBps;
        uint16 contributorBps;
        uint112 escrow;
        uint112 credits;
        uint16 unclaimed;
        uint16 unfinalised;
        bool settled;
        address user;
        uint64 roundDeadline;
        uint32 version;
        uint64 challengeDeadline;
        uint128 slashAmount;
        uint8 partCount;
        uint256 modelId;
    }

    /// @notice An assignment's record (all zero if (query, part, node) is not one).
    /// @param ackSigner The node's ack signer at request (Acks must recover to it).
    /// @param budget B, the most rounds it may claim.
    /// @param rounds The claimed n, the last round of its latest claim (0 until claimed).
    /// @param slashed Whether it was slashed.
    /// @param maxRounds R_max of the part at request: the most rounds one claim (chunk) proves.
    /// @param finalised Whether its latest claim was final (n == budget, or a chunk of fewer than
    ///        maxRounds rounds): no claim may follow.
    /// @param price Price per round, from the part's terms at request.
    /// @param verifier The part's verifier at request.
    /// @param encryptionKey The node's encryption key at request (payloads are sealed to it).
    /// @param transcriptHash keccak256(abi.encode(T_n, O_n)) of the latest claim (0 until
    ///        claimed); its `Claimed` event carries T_n and O_n in full (the next chunk's start).
    struct Assignment {
        address ackSigner;
        uint32 budget;
        uint32 rounds;
        bool slashed;
        uint16 maxRounds;
        bool finalised;
        uint96 price;
        address verifier;
        bytes32 encryptionKey;
        bytes32 transcriptHash;
    }

    /// @notice Request a query: checks the terms (see PROTOCOL.md, "A query", step 1) and, when the
    ///         pinned version has an input rule, the user's validity proof (PROTOCOL.md, "User
    ///         validity proof"), records them per query and per assignment, and escrows E = sum_p
    ///         k_p * B_p * price_p. Each budget is 1..maxBudget of its part; a budget above
    ///         maxRounds is claimed in chunks.
    /// @dev Applies `permit` first when its value is not 0; a failing permit (front-run) falls
    ///      through to the allowance. Both come after the validity proof is checked.
    /// @param validityProof Groth16 proof (the verifier's word order) for the public inputs the
    ///        market builds itself: [ruleHash, tag_0, c_0, ..., tag_{k-1}, c_{k-1}], the version's
    ///        rule hash, then for each of part 0's k nodes in request order its assignment tag
    ///        (`assignmentTag(queryId, 0, node)`) and its firstCommitments entry. Refused with
    ///        InvalidValidityProof. Ignored (any value, e.g. all zero) for a version without a rule.
    /// @return queryId keccak256(abi.encode(chainid, this, msg.sender, request.salt)).
    function requestQuery(
        Request calldata request,
        Permit calldata permit,
        uint256[8] calldata validityProof
    ) external returns (bytes32 queryId);

    /// @notice Claim rounds n0+1..n of an assignment (PROTOCOL.md v2, step 4 and "Chunks"): the
    ///         caller is the node; n0 is the assignment's recorded rounds (0 before its first
    ///         claim). Pays (n - n0) * price minus the cuts and records n, keccak256(abi.encode(T_n,
    ///         O_n)) and finalised = (n == budget || n - n0 < maxRounds). A budget of at most R_max
    ///         is claimed once; a larger one in chunks of exactly R_max rounds and a final, shorter
    ///         or budget-ending one. The cuts stay in the market until `settle` adds the query's
    ///         cuts to the accrued fees.
    /// @dev Refused: unknown query (QueryNotFound), not the caller's assignment (NotAssigned),
    ///      finalised (AlreadyFinalised), after t_P (ClaimTooLate), not n0 < n <= budget
    ///      (RoundsOutOfRange), n - n0 > maxRounds (ChunkTooLong), start transcripts not (0, 0)
    ///      for n0 == 0 or not the recorded (T_{n0}, O_{n0}) (StartTranscriptMismatch), the Round
    ///      not signed by the session key (InvalidSessionSignature), the proof (InvalidProof).
    /// @param rounds n, n0 < n <= budget and n - n0 <= maxRounds.
    /// @param commitment c_n, as in the session key's Round for n.
    /// @param inputTranscript T_n.
    /// @param prevOutputTranscript O_{n-1}.
    /// @param outputTranscript O_n.
    /// @param startInputTranscript T_{n0} of the previous chunk (0 for the first claim).
    /// @param startOutputTranscript O_{n0} of the previous chunk (0 for the first claim).
    /// @param roundSignature The session key's EIP-712 Round(queryId, part, node, n, c_n, T_n, O_{n-1}).
    /// @param proof Groth16 proof for (tag, n0, T_{n0}, O_{n0}, n, T_n, O_{n-1}, O_n), the tag and
    ///        n0 taken by the contract from its own record.
    function claim(
        bytes32 queryId,
        uint256 part,
        uint32 rounds,
        uint256 commitment,
        uint256 inputTranscript,
        uint256 prevOutputTranscript,
        uint256 outputTranscript,
        uint256 startInputTranscript,
        uint256 startOutputTranscript,
        bytes calldata roundSignature,
        uint256[8] calldata proof
    ) external;

    /// @notice Slash an assignment on its node's Ack of `round`: anyone, after the proof deadline
    ///         and until the challenge deadline, once per assignment, if the assignment is
    ///         unclaimed, or its latest claim has fewer rounds, or its latest claim ends at
    ///         `round` with another (T, O).
    function slash(
        bytes32 queryId,
        uint256 part,
        address node,
        uint32 round,
        uint256 inputTranscript,
        uint256 outputTranscript,
        bytes calldata ackSignature
    ) external;

    /// @notice Slash an assignment whose node acknowledged one round with two different (T, O):
    ///         anyone, until the challenge deadline, once per assignment.
    function slashEquivocation(
        bytes32 queryId,
        uint256 part,
        address node,
        uint32 round,
        uint256 t1,
        uint256 o1,
        bytes calldata sig1,
        uint256 t2,
        uint256 o2,
        bytes calldata sig2
    ) external;

    /// @notice Refund escrow - credits to the user: anyone, once, after the proof deadline or as soon
    ///         as every assignment is finalised (claimed to its end). Credits and cuts are summed here from the claimed
    ///         assignments (claims write no per-query or market-wide totals), and the query's cuts
    ///         are added to the accrued fees. Never calls the node registry.
    function settle(bytes32 queryId) external;

    /// @notice Send the accrued cuts (of settled queries) to the treasury and the rewards pool. Anyone.
    function sweepFees() external;

    /// @notice Set the cuts of new queries (at most MAX_PROTOCOL_FEE_BPS and
    ///         MAX_CONTRIBUTOR_FEE_BPS). Owner only; queries in flight keep theirs.
    function setFees(uint16 protocolBps, uint16 contributorBps) external;

    /// @notice Set where protocol cuts are swept. Owner only; never touches escrow.
    function setTreasury(address treasury) external;

    /// @notice Set where contributor cuts are swept. Owner only; never touches escrow.
    function setRewardsPool(address rewardsPool) external;

    /// @notice Set the slash amount of new queries (at most MAX_SLASH_AMOUNT). Owner only;
    ///         queries in flight keep the amount they recorded.
    function setSlashAmount(uint256 slashAmount) external;

    /// @notice Set the market's minimum proof window for new queries, within
    ///         [MIN_PROOF_WINDOW_FLOOR, MAX_PROOF_WINDOW_FLOOR] and with challengeWindow + floor +
    ///         margin below the unbonding period. Owner only.
    function setMinProofWindowFloor(uint64 floor) external;

    /// @notice Set the challenge window of new queries, within [MIN_CHALLENGE_WINDOW,
    ///         MAX_CHALLENGE_WINDOW] and with challengeWindow + floor + margin below the unbonding
    ///         period. Owner only; queries in flight keep their challenge deadline.
    function setChallengeWindow(uint64 window) external;

    /// @notice tag_a = keccak256(abi.encode("zkai/v2/assignment", chainid, this, queryId, part, node)) mod r.
    function assignmentTag(bytes32 queryId, uint256 part, address node) external view returns (uint256);

    /// @notice The EIP-712 domain separator (name "ZKAI QueryMarket", version "2").
    function domainSeparator() external view returns (bytes32);

    /// @notice A query's record.
    function getQuery(bytes32 queryId) external view returns (Query memory);

    /// @notice An assignment's record.
    function getAssignment(bytes32 queryId, uint256 part, address node) external view returns (Assignment memory);

    /// @notice The nodes of part `part` of the query, in request order.
    function getQueryNodes(bytes32 queryId, uint256 part) external view returns (address[] memory);

    /// @notice Cuts of settled queries not yet swept (a claimed query's cuts accrue at its settle).
    function accruedFees() external view returns (uint256 protocolFees, uint256 contributorFees);

    /// @notice The cuts new queries record.
    function fees() external view returns (uint16 protocolBps, uint16 contributorBps);

    /// @notice Where protocol cuts go.
    function treasury() external view returns (address);

    /// @notice Where contributor cuts go.
    function rewardsPool() external view returns (address);

    /// @notice The slash amount new queries record.
    function slashAmount() external view returns (uint256);

    /// @notice The market's floor of proof windows.
    function minProofWindowFloor() external view returns (uint64);

    /// @notice The challenge window new queries get.
    function challengeWindow() external view returns (uint64);

    /// @notice Margin between a query's challenge deadline and the unbonding period (fixed).
    function unbondingMargin() external view returns (uint64);

    /// @notice The payment token.
    function token() external view returns (address);

    /// @notice The node registry.
    function nodeRegistry() external view returns (address);

    /// @notice The model registry.
    function modelRegistry() external view returns (address);
}
