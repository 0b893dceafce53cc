// SPDX-License-Identifier: GPL-3.0-or-later
pragma solidity ^0.8.24;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {IERC20Permit} from "@openzeppelin/contracts/token/ERC20/extensions/IERC20Permit.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";
import {Ownable2Step} from "@openzeppelin/contracts/access/Ownable2Step.sol";
import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";
import {SafeCast} from "@openzeppelin/contracts/utils/math/SafeCast.sol";
import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";
import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import {IQueryMarket} from "./interfaces/IQueryMarket.sol";
import {INodeRegistry} from "./interfaces/INodeRegistry.sol";
import {IModelRegistry} from "./interfaces/IModelRegistry.sol";
import {IGroth16Verifier} from "./interfaces/IGroth16Verifier.sol";

/// @title Query market (protocol version 2)
/// @notice Escrow, proven per-assignment claims, Ack-based slashing and refunds. See `IQueryMarket`
///         and PROTOCOL.md ("Version 2").
/// @dev Owner powers (Ownable2Step) are limited to the cuts, the fee recipients, the slash amount,
///      the proof-window floor and the challenge window, each bounded, and each read only by
///      queries requested after the change: claims, slashes and settlement read the query's record.
///      No owner function moves tokens. Settlement never calls the node registry.
contract QueryMarket is IQueryMarket, Ownable2Step, ReentrancyGuardTransient, EIP712 {
    using SafeERC20 for IERC20;
    using SafeCast for uint256;

    /// @notice The BN254 scalar field order r.
    uint256 public constant SNARK_SCALAR_FIELD =
        21888242871839275222246405745257275088548364400416034343698204186575808495617;
    /// @notice Upper bounds of the cuts, in basis points of a credit.
    uint16 public constant MAX_PROTOCOL_FEE_BPS = 1_000;
    uint16 public constant MAX_CONTRIBUTOR_FEE_BPS = 2_000;
    uint16 public constant BPS = 10_000;
    /// @notice Upper bound of the stake slashed per assignment.
    uint256 public constant MAX_SLASH_AMOUNT = 1_000_000 ether;
    /// @notice Bounds of the market's proof-window floor.
    uint64 public constant MIN_PROOF_WINDOW_FLOOR = 30 seconds;
    uint64 public constant MAX_PROOF_WINDOW_FLOOR = 1 days;
    /// @notice Bounds of the challenge window.
    uint64 public constant MIN_CHALLENGE_WINDOW = 10 minutes;
    uint64 public constant MAX_CHALLENGE_WINDOW = 30 days;
    /// @notice Bounds of the unbonding margin (fixed at deployment).
    uint64 public constant MIN_UNBONDING_MARGIN = 1 minutes;
    uint64 public constant MAX_UNBONDING_MARGIN = 30 days;
    /// @notice Domain string of assignment tags.
    string public constant ASSIGNMENT_DOMAIN = "zkai/v2/assignment";
    /// @notice EIP-712 type hashes (as zkai.protocol.messages).
    bytes32 public constant ROUND_TYPEHASH = keccak256(
        "Round(bytes32 queryId,uint256 part,address node,uint256 round,uint256 commitment,uint256 inputTranscript,uint256 prevOutputTranscript)"
    );
    bytes32 public constant ACK_TYPEHASH = keccak256(
        "Ack(bytes32 queryId,uint256 part,address node,uint256 round,uint256 inputTranscript,uint256 outputTranscript)"
    );

    /// @dev ASSIGNMENT_DOMAIN as its one ABI word (18 bytes, left-aligned, zero-padded).
    bytes32 private constant _ASSIGNMENT_DOMAIN_WORD = "zkai/v2/assignment";

    /// @dev Calldata offsets of claim's static arguments (4-byte selector, then one word each):
    ///      queryId, part, rounds, commitment, T_n, O_{n-1}, O_n, T_{n0}, O_{n0}.
    uint256 private constant _CD_QUERY_ID = 0x04;
    uint256 private constant _CD_ROUNDS = 0x44;
    uint256 private constant _CD_INPUT = 0x84;
    uint256 private constant _CD_OUTPUT = 0xc4;
    uint256 private constant _CD_START_INPUT = 0xe4;
    uint256 private constant _CD_START_OUTPUT = 0x104;

    uint8 private constant _REASON_NO_CLAIM = 1;
    uint8 private constant _REASON_FEWER_ROUNDS = 2;
    uint8 private constant _REASON_TRANSCRIPT = 3;
    uint8 private constant _REASON_EQUIVOCATION = 4;

    IERC20 private immutable _token;
    INodeRegistry private immutable _nodeRegistry;
    IModelRegistry private immutable _modelRegistry;
    uint64 private immutable _unbondingMargin;

    uint16 private _protocolBps;
    uint16 private _contributorBps;
    uint64 private _minProofWindowFloor;
    uint64 private _challengeWindow;
    address private _treasury;
    address private _rewardsPool;
    uint256 private _slashAmount;

    /// @dev Cuts of settled queries not yet swept (full words: settle must never overflow them).
    uint256 private _accruedProtocolFees;
    uint256 private _accruedContributorFees;

    /// @dev What a query stores: `Query` without the totals, which are derived from the
    ///      assignments (so a claim writes only its own assignment). Slot 0 is all a claim reads.
    struct QueryRecord {
        address sessionKey;
        uint64 proofDeadline;
        uint16 protocolBps;
        uint16 contributorBps;
        address user;
        uint64 roundDeadline;
        uint32 version;
        uint112 escrow;
        uint64 challengeDeadline;
        uint8 partCount;
        bool settled;
        uint128 slashAmount;
        uint256 modelId;
    }

    /// @dev Sums over a query's assignments (see `_tally`).
    struct Tally {
        uint256 credits;
        uint256 unclaimed;
        uint256 unfinalised;
        uint256 protocolCuts;
        uint256 contributorCuts;
    }

    mapping(bytes32 queryId => QueryRecord) private _queries;
    mapping(bytes32 queryId => mapping(uint256 part => mapping(address node => Assignment))) private _assignments;
    mapping(bytes32 queryId => mapping(uint256 part => address[])) private _queryNodes;

    /// @param token_ The payment token (ERC-20 with ERC-2612 permit).
    /// @param nodeRegistry_ The node registry (eligibility, hosting, keys; slashing).
    /// @param modelRegistry_ The model registry (versions and part terms).
    /// @param treasury_ Receives swept protocol cuts.
    /// @param rewardsPool_ Receives swept contributor cuts (ContributorRewards).
    /// @param protocolBps Protocol cut, <= MAX_PROTOCOL_FEE_BPS.
    /// @param contributorBps Contributor cut, <= MAX_CONTRIBUTOR_FEE_BPS.
    /// @param slashAmount_ Stake slashed per slashable assignment, <= MAX_SLASH_AMOUNT.
    /// @param minProofWindowFloor_ Least proof window of any query, in the floor bounds.
    /// @param challengeWindow_ t_C - t_P, in the challenge-window bounds.
    /// @param unbondingMargin_ Least time between t_C and the end of an unbonding started at request.
    constructor(
        IERC20 token_,
        INodeRegistry nodeRegistry_,
        IModelRegistry modelRegistry_,
        address treasury_,
        address rewardsPool_,
        uint16 protocolBps,
        uint16 contributorBps,
        uint256 slashAmount_,
        uint64 minProofWindowFloor_,
        uint64 challengeWindow_,
        uint64 unbondingMargin_
    ) Ownable(msg.sender) EIP712("ZKAI QueryMarket", "2") {
        _requireContract(address(token_));
        _requireContract(address(nodeRegistry_));
        _requireContract(address(modelRegistry_));
        if (unbondingMargin_ < MIN_UNBONDING_MARGIN || unbondingMargin_ > MAX_UNBONDING_MARGIN) {
            revert UnbondingMarginOutOfBounds(unbondingMargin_, MIN_UNBONDING_MARGIN, MAX_UNBONDING_MARGIN);
        }
        _token = token_;
        _nodeRegistry = nodeRegistry_;
        _modelRegistry = modelRegistry_;
        _unbondingMargin = unbondingMargin_;
        _setTreasury(treasury_);
        _setRewardsPool(rewardsPool_);
        _setFees(protocolBps, contributorBps);
        _setSlashAmount(slashAmount_);
        _setWindows(minProofWindowFloor_, challengeWindow_);
    }

    // ---------------------------------------------------------------- users

    /// @inheritdoc IQueryMarket
    /// @dev The validity proof is checked after every term of the request and before the permit
    ///      and the transfer: a refused proof leaves nothing recorded or escrowed.
    function requestQuery(
        Request calldata request,
        Permit calldata permit,
        uint256[8] calldata validityProof
    ) external nonReentrant returns (bytes32 queryId) {
        queryId = keccak256(abi.encode(block.chainid, address(this), msg.sender, request.salt));
        QueryRecord storage query = _queries[queryId];
        if (query.sessionKey != address(0)) revert QueryExists(queryId);
        if (request.sessionKey == address(0)) revert SessionKeyZero();
        IModelRegistry.PartTerms[] memory parts = _pinnedParts(request);
        uint256 escrow;
        for (uint256 p = 0; p < parts.length; ++p) {
            escrow += _assignPart(queryId, request, p, parts[p]);
        }
        if (escrow > request.feeCap) revert FeeCapExceeded(escrow, request.feeCap);
        uint64 challengeDeadline = _checkDeadlines(request, parts);
        _checkValidity(queryId, request, validityProof);
        _record(query, queryId, request, escrow, challengeDeadline, parts.length);
        if (permit.value != 0) {
            // A front-run permit must not block the request: the transferFrom below still
            // succeeds when the allowance suffices.
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
        }
        if (escrow > 0) _token.safeTransferFrom(msg.sender, address(this), escrow);
    }

    // ---------------------------------------------------------------- nodes

    /// @inheritdoc IQueryMarket
    /// @dev claim's arguments before the signature are static words at fixed ABI offsets
    ///      (`_CD_*`); the private steps read the ones they hash or check from calldata there,
    ///      which keeps eleven arguments within the stack (no via-IR needed).
    function claim(
        bytes32 queryId,
        uint256 part,
        uint32 rounds,
        uint256 /* commitment, 0x64 */,
        uint256 /* inputTranscript, _CD_INPUT */,
        uint256 /* prevOutputTranscript, 0xa4 */,
        uint256 /* outputTranscript, _CD_OUTPUT */,
        uint256 /* startInputTranscript, _CD_START_INPUT */,
        uint256 /* startOutputTranscript, _CD_START_OUTPUT */,
        bytes calldata roundSignature,
        uint256[8] calldata proof
    ) external nonReentrant {
        _claim(queryId, part, rounds, roundSignature, proof);
    }

    /// @dev The claim itself (see `claim`): checks, proof, record, payout.
    function _claim(
        bytes32 queryId,
        uint256 part,
        uint32 rounds,
        bytes calldata roundSignature,
        uint256[8] calldata proof
    ) private {
        QueryRecord storage query = _queries[queryId];
        Assignment storage assignment = _assignments[queryId][part][msg.sender];
        uint32 startRounds = _claimable(query, assignment, queryId, part, rounds);
        if (!_startHolds(assignment, startRounds)) {
            revert StartTranscriptMismatch(queryId, part, msg.sender, startRounds);
        }
        _checkRound(query.sessionKey, queryId, roundSignature);
        if (!_proofHolds(assignment.verifier, _tag(queryId, part, msg.sender), startRounds, proof)) {
            revert InvalidProof(queryId, part, msg.sender);
        }
        uint32 chunk = rounds - startRounds; // 1..maxRounds (checked in _claimable)
        assignment.rounds = rounds;
        assignment.finalised = rounds == assignment.budget || chunk < assignment.maxRounds;
        uint256 inputTranscript = _word(_CD_INPUT);
        uint256 outputTranscript = _word(_CD_OUTPUT);
        assignment.transcriptHash = _transcriptHash(inputTranscript, outputTranscript);
        uint256 credit = uint256(chunk) * assignment.price;
        uint256 payout = credit - _cut(credit, query.protocolBps) - _cut(credit, query.contributorBps);
        emit Claimed(queryId, part, msg.sender, rounds, inputTranscript, outputTranscript, credit, payout);
        if (payout > 0) _token.safeTransfer(msg.sender, payout);
    }

    // ---------------------------------------------------------------- anyone

    /// @inheritdoc IQueryMarket
    function slash(
        bytes32 queryId,
        uint256 part,
        address node,
        uint32 round,
        uint256 inputTranscript,
        uint256 outputTranscript,
        bytes calldata ackSignature
    ) external nonReentrant {
        Assignment storage assignment = _slashable(queryId, part, node, round);
        uint64 proofDeadline = _queries[queryId].proofDeadline;
        if (block.timestamp <= proofDeadline) revert SlashTooEarly(queryId, proofDeadline, block.timestamp);
        _checkAck(queryId, part, node, round, inputTranscript, outputTranscript, ackSignature, assignment.ackSigner);
        uint32 claimed = assignment.rounds;
        uint8 reason;
        if (claimed == 0) {
            reason = _REASON_NO_CLAIM;
        } else if (claimed < round) {
            reason = _REASON_FEWER_ROUNDS;
        } else if (
            claimed == round && _transcriptHash(inputTranscript, outputTranscript) != assignment.transcriptHash
        ) {
            reason = _REASON_TRANSCRIPT;
        } else {
            revert NotSlashable(queryId, part, node, round);
        }
        _slash(queryId, part, node, round, reason);
    }

    /// @inheritdoc IQueryMarket
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
    ) external nonReentrant {
        if (t1 == t2 && o1 == o2) revert NotEquivocation(queryId, part, node, round);
        address signer = _slashable(queryId, part, node, round).ackSigner;
        _checkAck(queryId, part, node, round, t1, o1, sig1, signer);
        _checkAck(queryId, part, node, round, t2, o2, sig2, signer);
        _slash(queryId, part, node, round, _REASON_EQUIVOCATION);
    }

    /// @inheritdoc IQueryMarket
    function settle(bytes32 queryId) external nonReentrant {
        QueryRecord storage query = _queries[queryId];
        if (query.sessionKey == address(0)) revert QueryNotFound(queryId);
        if (query.settled) revert QueryAlreadySettled(queryId);
        Tally memory tally = _tally(queryId, query);
        if (block.timestamp <= query.proofDeadline && tally.unfinalised != 0) {
            revert SettleTooEarly(queryId, query.proofDeadline, tally.unfinalised);
        }
        query.settled = true;
        // The totals are at most the market's token balance, so they never overflow.
        _accruedProtocolFees += tally.protocolCuts;
        _accruedContributorFees += tally.contributorCuts;
        uint256 credits = tally.credits;
        uint256 refund = uint256(query.escrow) - credits;
        address user = query.user;
        emit QuerySettled(queryId, user, credits, refund);
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
    function setFees(uint16 protocolBps, uint16 contributorBps) external onlyOwner {
        _setFees(protocolBps, contributorBps);
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
    function setMinProofWindowFloor(uint64 floor) external onlyOwner {
        _setWindows(floor, _challengeWindow);
    }

    /// @inheritdoc IQueryMarket
    function setChallengeWindow(uint64 window) external onlyOwner {
        _setWindows(_minProofWindowFloor, window);
    }

    // ---------------------------------------------------------------- views

    /// @inheritdoc IQueryMarket
    function assignmentTag(bytes32 queryId, uint256 part, address node) external view returns (uint256) {
        return _tag(queryId, part, node);
    }

    /// @inheritdoc IQueryMarket
    function domainSeparator() external view returns (bytes32) {
        return _domainSeparatorV4();
    }

    /// @inheritdoc IQueryMarket
    function getQuery(bytes32 queryId) external view returns (Query memory query) {
        QueryRecord storage record = _queries[queryId];
        Tally memory tally = _tally(queryId, record);
        query.sessionKey = record.sessionKey;
        query.proofDeadline = record.proofDeadline;
        query.protocolBps = record.protocolBps;
        query.contributorBps = record.contributorBps;
        query.escrow = record.escrow;
        query.credits = uint112(tally.credits); // <= escrow
        query.unclaimed = uint16(tally.unclaimed); // <= 16 parts * 8 shares
        query.unfinalised = uint16(tally.unfinalised); // likewise
        query.settled = record.settled;
        query.user = record.user;
        query.roundDeadline = record.roundDeadline;
        query.version = record.version;
        query.challengeDeadline = record.challengeDeadline;
        query.slashAmount = record.slashAmount;
        query.partCount = record.partCount;
        query.modelId = record.modelId;
    }

    /// @inheritdoc IQueryMarket
    function getAssignment(bytes32 queryId, uint256 part, address node) external view returns (Assignment memory) {
        return _assignments[queryId][part][node];
    }

    /// @inheritdoc IQueryMarket
    function getQueryNodes(bytes32 queryId, uint256 part) external view returns (address[] memory) {
        return _queryNodes[queryId][part];
    }

    /// @inheritdoc IQueryMarket
    function accruedFees() external view returns (uint256 protocolFees, uint256 contributorFees) {
        return (_accruedProtocolFees, _accruedContributorFees);
    }

    /// @inheritdoc IQueryMarket
    function fees() external view returns (uint16 protocolBps, uint16 contributorBps) {
        return (_protocolBps, _contributorBps);
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
    function minProofWindowFloor() external view returns (uint64) {
        return _minProofWindowFloor;
    }

    /// @inheritdoc IQueryMarket
    function challengeWindow() external view returns (uint64) {
        return _challengeWindow;
    }

    /// @inheritdoc IQueryMarket
    function unbondingMargin() external view returns (uint64) {
        return _unbondingMargin;
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

    // ---------------------------------------------------------------- internal: request

    /// @dev The part terms of the pinned version, after checking the model and the request's shape.
    function _pinnedParts(Request calldata request) private view returns (IModelRegistry.PartTerms[] memory parts) {
        IModelRegistry.Model memory model = _modelRegistry.getModel(request.modelId);
        if (!model.active) revert ModelNotActive(request.modelId);
        if (request.version != model.currentVersion) {
            revert VersionMismatch(request.modelId, request.version, model.currentVersion);
        }
        parts = _modelRegistry.getParts(request.modelId, request.version);
        if (request.nodes.length != parts.length || request.budgets.length != parts.length) {
            revert PartCountMismatch(parts.length, request.nodes.length, request.budgets.length);
        }
        uint256 firstShares = parts[0].shares;
        if (request.firstCommitments.length != firstShares) {
            revert FirstCommitmentCountMismatch(firstShares, request.firstCommitments.length);
        }
    }

    /// @dev Reverts unless the pinned version has no input rule or its validity verifier accepts
    ///      `proof` for [ruleHash, tag_0, c_0, ..., tag_{k-1}, c_{k-1}]: the rule hash from the
    ///      registry, the tags computed here for part 0's nodes (as claims compute them), the c_j
    ///      the request's firstCommitments (k = part 0's shares, checked by `_pinnedParts` and
    ///      `_assignPart`; the registry checked the verifier's 1 + 2 k inputs).
    function _checkValidity(bytes32 queryId, Request calldata request, uint256[8] calldata proof) private view {
        IModelRegistry.ValidityTerms memory validity = _modelRegistry.getValidity(request.modelId, request.version);
        if (validity.verifier == address(0)) return;
        address[] calldata firstNodes = request.nodes[0];
        uint256[] calldata commitments = request.firstCommitments;
        uint256 k = firstNodes.length;
        uint256[] memory inputs = new uint256[](1 + 2 * k);
        inputs[0] = validity.ruleHash;
        for (uint256 j = 0; j < k; ++j) {
            inputs[1 + 2 * j] = _tag(queryId, 0, firstNodes[j]);
            inputs[2 + 2 * j] = commitments[j];
        }
        if (!IGroth16Verifier(validity.verifier).verifyProof(proof, inputs)) revert InvalidValidityProof(queryId);
    }

    /// @dev Checks and records the assignments of part `p`; returns their cost.
    function _assignPart(
        bytes32 queryId,
        Request calldata request,
        uint256 p,
        IModelRegistry.PartTerms memory terms
    ) private returns (uint256 cost) {
        address[] calldata nodes = request.nodes[p];
        uint256 count = nodes.length;
        if (count != terms.shares) revert ShareCountMismatch(p, terms.shares, count);
        uint32 budget = request.budgets[p];
        if (budget == 0 || budget > terms.maxBudget) revert BudgetOutOfRange(p, budget, terms.maxBudget);
        for (uint256 j = 0; j < count; ++j) {
            address node = nodes[j];
            for (uint256 i = 0; i < j; ++i) {
                if (nodes[i] == node) revert DuplicateNode(p, node);
            }
            uint256 firstCommitment;
            if (p == 0) {
                firstCommitment = request.firstCommitments[j];
                if (firstCommitment >= SNARK_SCALAR_FIELD) revert CommitmentNotInField(j, firstCommitment);
            }
            _assign(queryId, request.modelId, p, node, budget, terms);
            emit Assigned(queryId, p, node, budget, terms.price, firstCommitment);
        }
        _queryNodes[queryId][p] = nodes;
        cost = count * uint256(budget) * terms.price;
    }

    function _assign(
        bytes32 queryId,
        uint256 modelId,
        uint256 p,
        address node,
        uint32 budget,
        IModelRegistry.PartTerms memory terms
    ) private {
        (bool eligible, bool hosts, bytes32 encryptionKey, address ackSigner) = _nodeRegistry.assignmentTerms(
            node,
            modelId,
            p
        );
        if (!eligible) revert NodeNotEligible(node);
        if (!hosts) revert NodeNotHostingPart(node, modelId, p);
        Assignment storage assignment = _assignments[queryId][p][node];
        assignment.ackSigner = ackSigner;
        assignment.budget = budget;
        assignment.maxRounds = uint16(terms.maxRounds); // ModelRegistry.MAX_PART_ROUNDS = 2^16 - 1
        assignment.price = terms.price;
        assignment.verifier = terms.verifier;
        assignment.encryptionKey = encryptionKey;
    }

    function _record(
        QueryRecord storage query,
        bytes32 queryId,
        Request calldata request,
        uint256 escrow,
        uint64 challengeDeadline,
        uint256 partCount
    ) private {
        query.sessionKey = request.sessionKey;
        query.proofDeadline = request.proofDeadline;
        query.protocolBps = _protocolBps;
        query.contributorBps = _contributorBps;
        query.escrow = escrow.toUint112();
        query.user = msg.sender;
        query.roundDeadline = request.roundDeadline;
        query.version = request.version;
        query.challengeDeadline = challengeDeadline;
        query.slashAmount = uint128(_slashAmount); // <= MAX_SLASH_AMOUNT < 2^128
        query.partCount = uint8(partCount); // ModelRegistry.MAX_PARTS < 2^8
        query.modelId = request.modelId;
        emit QueryRequested(
            queryId,
            msg.sender,
            request.modelId,
            request.version,
            escrow,
            request.roundDeadline,
            request.proofDeadline,
            challengeDeadline,
            request.sessionKey
        );
    }

    /// @dev Checks t_R, t_P and t_C against now, the windows and the unbonding period; returns t_C.
    function _checkDeadlines(
        Request calldata request,
        IModelRegistry.PartTerms[] memory parts
    ) private view returns (uint64 challengeDeadline) {
        if (request.roundDeadline <= block.timestamp) {
            revert RoundDeadlineInPast(request.roundDeadline, block.timestamp);
        }
        uint256 window = _minProofWindowFloor;
        for (uint256 p = 0; p < parts.length; ++p) {
            if (parts[p].minProofWindow > window) window = parts[p].minProofWindow;
        }
        if (uint256(request.proofDeadline) < uint256(request.roundDeadline) + window) {
            revert ProofWindowTooShort(request.roundDeadline, request.proofDeadline, window);
        }
        uint256 tC = uint256(request.proofDeadline) + _challengeWindow;
        uint256 latest = block.timestamp + _nodeRegistry.unbondingPeriod() - _unbondingMargin;
        if (tC > latest) revert ChallengeDeadlineBeyondUnbonding(uint64(tC), latest);
        challengeDeadline = uint64(tC); // tC <= latest, far below 2^64
    }

    // ---------------------------------------------------------------- internal: claims, slashes

    /// @dev Checks that the query and the caller's assignment exist, the assignment is not
    ///      finalised, the claim is in time, n0 < rounds <= budget and rounds - n0 <= maxRounds;
    ///      returns n0. Reads the query's and the assignment's first slots only.
    function _claimable(
        QueryRecord storage query,
        Assignment storage assignment,
        bytes32 queryId,
        uint256 part,
        uint32 rounds
    ) private view returns (uint32 startRounds) {
        if (query.sessionKey == address(0)) revert QueryNotFound(queryId);
        uint32 budget = assignment.budget;
        if (budget == 0) revert NotAssigned(queryId, part, msg.sender);
        startRounds = assignment.rounds;
        if (assignment.finalised) revert AlreadyFinalised(queryId, part, msg.sender, startRounds);
        if (block.timestamp > query.proofDeadline) {
            revert ClaimTooLate(queryId, query.proofDeadline, block.timestamp);
        }
        if (rounds <= startRounds || rounds > budget) revert RoundsOutOfRange(rounds, startRounds, budget);
        uint16 maxRounds = assignment.maxRounds;
        if (rounds - startRounds > maxRounds) revert ChunkTooLong(rounds, startRounds, maxRounds);
    }

    /// @dev Whether a claim's start transcripts are (0, 0) for the first claim (n0 == 0), else the
    ///      (T_{n0}, O_{n0}) the previous chunk recorded (its transcript hash, read only then).
    function _startHolds(Assignment storage assignment, uint32 startRounds) private view returns (bool) {
        uint256 startInputTranscript = _word(_CD_START_INPUT);
        uint256 startOutputTranscript = _word(_CD_START_OUTPUT);
        if (startRounds == 0) return (startInputTranscript | startOutputTranscript) == 0;
        return _transcriptHash(startInputTranscript, startOutputTranscript) == assignment.transcriptHash;
    }

    /// @dev Reverts unless the session key signed Round(queryId, part, caller, rounds, c_n, T_n,
    ///      O_{n-1}). Only called from `claim`: the signed fields are its own arguments, hashed
    ///      straight from calldata (queryId, part at 0x04; rounds, commitment, T_n, O_{n-1} at
    ///      0x44), which keeps claim's stack small.
    function _checkRound(address sessionKey, bytes32 queryId, bytes calldata signature) private view {
        bytes32 typeHash = ROUND_TYPEHASH;
        bytes32 structHash;
        assembly ("memory-safe") {
            let p := mload(0x40)
            mstore(p, typeHash)
            calldatacopy(add(p, 0x20), _CD_QUERY_ID, 0x40) // queryId, part
            mstore(add(p, 0x60), caller())
            calldatacopy(add(p, 0x80), _CD_ROUNDS, 0x80) // rounds, c_n, T_n, O_{n-1}
            structHash := keccak256(p, 0x100)
        }
        (address recovered, , ) = ECDSA.tryRecoverCalldata(_hashTypedDataV4(structHash), signature);
        if (recovered != sessionKey) revert InvalidSessionSignature(queryId, recovered, sessionKey);
    }

    /// @dev Whether `verifier` accepts `proof` for (tag, n0, T_{n0}, O_{n0}, n, T_n,
    ///      O_{n-1}, O_n): the tag is computed here for the caller, n0 is the assignment's record,
    ///      and the other six are claim()'s own arguments, read from calldata (T_{n0}, O_{n0} were
    ///      checked against the record, n, T_n and O_{n-1} against the session's Round).
    function _proofHolds(
        address verifier,
        uint256 tag,
        uint32 startRounds,
        uint256[8] calldata proof
    ) private view returns (bool) {
        uint256[] memory inputs = new uint256[](8);
        assembly ("memory-safe") {
            let p := add(inputs, 0x20)
            mstore(p, tag)
            mstore(add(p, 0x20), startRounds)
            calldatacopy(add(p, 0x40), _CD_START_INPUT, 0x40) // T_{n0}, O_{n0}
            mstore(add(p, 0x80), calldataload(_CD_ROUNDS))
            calldatacopy(add(p, 0xa0), _CD_INPUT, 0x60) // T_n, O_{n-1}, O_n
        }
        return IGroth16Verifier(verifier).verifyProof(proof, inputs);
    }

    /// @dev The static word of claim's calldata at `offset` (one of `_CD_*`).
    function _word(uint256 offset) private pure returns (uint256 w) {
        assembly ("memory-safe") {
            w := calldataload(offset)
        }
    }

    /// @dev floor(credit * bps / 10^4): one cut of one claim's credit.
    function _cut(uint256 credit, uint16 bps) private pure returns (uint256) {
        return (credit * bps) / BPS;
    }

    /// @dev The cuts at `bps` of an assignment claimed to n = `rounds` in chunks of at most
    ///      R = `chunkRounds`, each floored on its own chunk's credit as its payout was. Every chunk
    ///      but the last has exactly R rounds (a shorter one is final, and chunks start at
    ///      multiples of R), so they are n / R cuts of R * price and one cut of (n % R) * price.
    function _chunkCuts(uint256 rounds, uint256 chunkRounds, uint256 price, uint16 bps) private pure returns (uint256) {
        return (rounds / chunkRounds) * _cut(chunkRounds * price, bps) + _cut((rounds % chunkRounds) * price, bps);
    }

    /// @dev The claim record of (T_n, O_n): keccak256(abi.encode(T_n, O_n)).
    function _transcriptHash(uint256 inputTranscript, uint256 outputTranscript) private pure returns (bytes32 h) {
        assembly ("memory-safe") {
            mstore(0x00, inputTranscript)
            mstore(0x20, outputTranscript)
            h := keccak256(0x00, 0x40)
        }
    }

    /// @dev The query's credits, unclaimed and unfinalised assignments and cuts, summed over its
    ///      assignments (each claim's or chunk's cuts floored on its own credit, as its payout was).
    function _tally(bytes32 queryId, QueryRecord storage query) private view returns (Tally memory tally) {
        uint256 partCount = query.partCount;
        uint16 protocolBps = query.protocolBps;
        uint16 contributorBps = query.contributorBps;
        for (uint256 p = 0; p < partCount; ++p) {
            address[] storage nodes = _queryNodes[queryId][p];
            mapping(address node => Assignment) storage assignments = _assignments[queryId][p];
            uint256 count = nodes.length;
            for (uint256 j = 0; j < count; ++j) {
                Assignment storage assignment = assignments[nodes[j]];
                if (!assignment.finalised) ++tally.unfinalised;
                uint256 rounds = assignment.rounds;
                if (rounds == 0) {
                    ++tally.unclaimed;
                    continue;
                }
                uint256 price = assignment.price;
                uint256 chunkRounds = assignment.maxRounds;
                tally.credits += rounds * price;
                tally.protocolCuts += _chunkCuts(rounds, chunkRounds, price, protocolBps);
                tally.contributorCuts += _chunkCuts(rounds, chunkRounds, price, contributorBps);
            }
        }
    }

    /// @dev The assignment, after checking that the query exists, the challenge deadline has not
    ///      passed, the round is not 0, and the assignment exists and is not yet slashed.
    function _slashable(
        bytes32 queryId,
        uint256 part,
        address node,
        uint32 round
    ) private view returns (Assignment storage assignment) {
        QueryRecord storage query = _queries[queryId];
        if (query.sessionKey == address(0)) revert QueryNotFound(queryId);
        if (block.timestamp > query.challengeDeadline) {
            revert SlashTooLate(queryId, query.challengeDeadline, block.timestamp);
        }
        if (round == 0) revert RoundZero();
        assignment = _assignments[queryId][part][node];
        if (assignment.budget == 0) revert NotAssigned(queryId, part, node);
        if (assignment.slashed) revert AlreadySlashed(queryId, part, node);
    }

    function _checkAck(
        bytes32 queryId,
        uint256 part,
        address node,
        uint32 round,
        uint256 inputTranscript,
        uint256 outputTranscript,
        bytes calldata signature,
        address ackSigner
    ) private view {
        bytes32 digest = _hashTypedDataV4(
            keccak256(abi.encode(ACK_TYPEHASH, queryId, part, node, round, inputTranscript, outputTranscript))
        );
        (address recovered, , ) = ECDSA.tryRecoverCalldata(digest, signature);
        if (recovered != ackSigner || recovered == address(0)) {
            revert InvalidAckSignature(queryId, recovered, ackSigner);
        }
    }

    /// @dev Marks the assignment slashed, then takes the recorded amount from the node's stake.
    function _slash(bytes32 queryId, uint256 part, address node, uint32 round, uint8 reason) private {
        _assignments[queryId][part][node].slashed = true;
        uint256 amount = _queries[queryId].slashAmount;
        uint256 slashed;
        if (amount > 0) slashed = _nodeRegistry.slash(node, amount, queryId);
        emit AssignmentSlashed(queryId, part, node, round, slashed, reason);
    }

    /// @dev keccak256(abi.encode(ASSIGNMENT_DOMAIN, chainid, this, queryId, part, node)) mod r, the
    ///      encoding written out (the string's offset, the five words, its length, its one word).
    function _tag(bytes32 queryId, uint256 part, address node) private view returns (uint256 tag) {
        bytes32 domain = _ASSIGNMENT_DOMAIN_WORD;
        uint256 length = bytes(ASSIGNMENT_DOMAIN).length;
        assembly ("memory-safe") {
            let p := mload(0x40)
            mstore(p, 0xc0)
            mstore(add(p, 0x20), chainid())
            mstore(add(p, 0x40), address())
            mstore(add(p, 0x60), queryId)
            mstore(add(p, 0x80), part)
            mstore(add(p, 0xa0), and(node, 0xffffffffffffffffffffffffffffffffffffffff))
            mstore(add(p, 0xc0), length)
            mstore(add(p, 0xe0), domain)
            tag := mod(keccak256(p, 0x100), SNARK_SCALAR_FIELD)
        }
    }

    // ---------------------------------------------------------------- internal: settings

    function _requireContract(address account) private view {
        if (account.code.length == 0) revert InvalidContract(account);
    }

    function _setFees(uint16 protocolBps, uint16 contributorBps) private {
        if (protocolBps > MAX_PROTOCOL_FEE_BPS || contributorBps > MAX_CONTRIBUTOR_FEE_BPS) {
            revert FeesOutOfBounds(protocolBps, contributorBps);
        }
        _protocolBps = protocolBps;
        _contributorBps = contributorBps;
        emit FeesSet(protocolBps, contributorBps);
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

    function _setWindows(uint64 floor, uint64 window) private {
        if (floor < MIN_PROOF_WINDOW_FLOOR || floor > MAX_PROOF_WINDOW_FLOOR) {
            revert ProofWindowFloorOutOfBounds(floor, MIN_PROOF_WINDOW_FLOOR, MAX_PROOF_WINDOW_FLOOR);
        }
        if (window < MIN_CHALLENGE_WINDOW || window > MAX_CHALLENGE_WINDOW) {
            revert ChallengeWindowOutOfBounds(window, MIN_CHALLENGE_WINDOW, MAX_CHALLENGE_WINDOW);
        }
        uint64 unbonding = _nodeRegistry.unbondingPeriod();
        uint256 total = uint256(window) + floor + _unbondingMargin;
        if (total >= unbonding) revert WindowsExceedUnbonding(total, unbonding);
        if (floor != _minProofWindowFloor) {
            _minProofWindowFloor = floor;
            emit MinProofWindowFloorSet(floor);
        }
        if (window != _challengeWindow) {
            _challengeWindow = window;
            emit ChallengeWindowSet(window);
        }
    }
}
