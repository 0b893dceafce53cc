// SPDX-License-Identifier: GPL-3.0-or-later
pragma solidity ^0.8.24;

/// @title Errors of the node registry
interface INodeRegistryErrors {
    /// @notice Thrown by `register` when the caller is already registered.
    error NodeAlreadyRegistered(address node);

    /// @notice Thrown by `stake`, `updateNode`, `requestUnstake`, `withdraw` and `slash` when the
    ///         node is not registered.
    error NodeNotRegistered(address node);

    /// @notice Thrown by `register` and `updateNode` when the encryption public key is zero.
    error EncryptionKeyZero(address node);

    /// @notice Thrown by `stake` when the amount is zero.
    error StakeAmountZero(address node);

    /// @notice Thrown by `stake` and `requestUnstake` while the node is unbonding.
    /// @param unlockTime When the unbonding stake becomes withdrawable.
    error NodeUnbonding(address node, uint64 unlockTime);

    /// @notice Thrown by `requestUnstake` when the node has no stake.
    error NothingStaked(address node);

    /// @notice Thrown by `withdraw` when the node has not requested to unstake.
    error NodeNotUnbonding(address node);

    /// @notice Thrown by `withdraw` before the unbonding period has passed.
    error UnbondingNotFinished(address node, uint64 unlockTime, uint256 currentTime);

    /// @notice Thrown by `slash` when the caller is not an authorised slasher.
    error NotSlasher(address caller);

    /// @notice Thrown by the constructor and `setSlashRecipient` for the zero address.
    error InvalidSlashRecipient(address recipient);

    /// @notice Thrown by `setSlasher` for the zero address.
    error InvalidSlasher(address slasher);

    /// @notice Thrown by `applySlasherChange` when no change of `slasher` was proposed.
    error NoSlasherChangePending(address slasher);

    /// @notice Thrown by `applySlasherChange` before the change's unbonding-period delay passed.
    error SlasherChangeNotYet(address slasher, uint64 executableAt, uint256 currentTime);

    /// @notice Thrown by the constructor and `setMinStake` outside [1, maxAllowed].
    error MinStakeOutOfBounds(uint256 minStake, uint256 maxAllowed);

    /// @notice Thrown by the constructor when the unbonding period is outside [min, max].
    error UnbondingPeriodOutOfBounds(uint64 period, uint64 min, uint64 max);

    /// @notice Thrown by the constructor when the staking token has no code.
    error NodeRegistryInvalidToken(address token);

    /// @notice Thrown by `register` and `updateNode` when the ack signer is the zero address.
    error AckSignerZero(address node);

    /// @notice Thrown by `register` and `updateNode` when the endpoint is empty or longer than
    ///         MAX_ENDPOINT_LENGTH bytes.
    error EndpointLengthInvalid(address node, uint256 length, uint256 maxLength);

    /// @notice Thrown by `setParts` when the list of parts is empty.
    error NoParts(address node);
}

/// @title Events of the node registry
interface INodeRegistryEvents {
    /// @notice A node registered with its encryption public key, ack signer, endpoint and metadata.
    event NodeRegistered(
        address indexed node,
        bytes32 encryptionKey,
        address indexed ackSigner,
        string endpoint,
        string metadataURI
    );

    /// @notice A node rotated its encryption key or ack signer, or changed endpoint or metadata.
    ///         Queries already requested keep the key and signer recorded at request.
    event NodeUpdated(
        address indexed node,
        bytes32 encryptionKey,
        address indexed ackSigner,
        string endpoint,
        string metadataURI
    );

    /// @notice `node` now hosts (or no longer hosts) part `part` of model `modelId`.
    event PartHosted(address indexed node, uint256 indexed modelId, uint256 part, bool hosted);

    /// @notice A node added `amount` to its stake, which is now `totalStake`.
    event Staked(address indexed node, uint256 amount, uint256 totalStake);

    /// @notice A node asked to leave: its whole stake `amount` unbonds until `unlockTime`.
    event UnstakeRequested(address indexed node, uint256 amount, uint64 unlockTime);

    /// @notice A node withdrew its unbonded stake.
    event Withdrawn(address indexed node, uint256 amount);

    /// @notice `slasher` took `slashed` (of `requested`) from `node`'s stake and sent it to
    ///         `recipient`. The query market passes the query id as `reason`.
    event Slashed(
        address indexed node,
        address indexed slasher,
        bytes32 indexed reason,
        uint256 requested,
        uint256 slashed,
        address recipient
    );

    /// @notice The owner allowed or disallowed `slasher`.
    event SlasherSet(address indexed slasher, bool allowed);

    /// @notice The owner proposed a slasher change, applicable from `executableAt`.
    event SlasherChangeProposed(address indexed slasher, bool allowed, uint64 executableAt);

    /// @notice Slashed stake now goes to `recipient`.
    event SlashRecipientSet(address indexed recipient);

    /// @notice The minimum stake for eligibility is now `minStake`.
    event MinStakeSet(uint256 minStake);
}

/// @title Node registry: staking of inference nodes
/// @notice A node registers an X25519 public key (payloads are sealed to it), an ack signer (the
///         secp256k1 key that signs its Acks), the endpoint users send rounds to and a metadata
///         URI, declares the model parts it hosts, stakes the token, and serves queries while eligible: staked at or above `minStake()`
///         and not unbonding. Leaving is two steps: `requestUnstake` (the whole stake unbonds for
///         `unbondingPeriod()`, the node stops being eligible) and `withdraw` after it.
/// @dev Unbonding stake stays slashable until withdrawn. The query market requires every query's
///      challenge deadline, plus a margin, to fall within `unbondingPeriod()` of its request, so a
///      node that acknowledged rounds and then asks to leave is still slashable for them.
interface INodeRegistry is INodeRegistryErrors, INodeRegistryEvents {
    /// @notice A node's record.
    /// @param encryptionKey X25519 public key that users seal round payloads to.
    /// @param ackSigner Address whose EIP-712 signatures are the node's Acks (may be the node).
    /// @param endpoint Where users send rounds (https URL), 1..MAX_ENDPOINT_LENGTH bytes.
    /// @param metadataURI Where the node describes itself (operator, hardware).
    /// @param stake Stake in token units (active, or unbonding when `unlockTime != 0`).
    /// @param unlockTime When the unbonding stake becomes withdrawable; 0 when not unbonding.
    /// @param registered Whether the node registered.
    struct Node {
        bytes32 encryptionKey;
        address ackSigner;
        string endpoint;
        string metadataURI;
        uint128 stake;
        uint64 unlockTime;
        bool registered;
    }

    /// @notice Register the caller as a node and stake `amount` (may be 0; stake later).
    /// @dev Pulls `amount` with transferFrom: approve the registry first.
    function register(
        bytes32 encryptionKey,
        address ackSigner,
        string calldata endpoint,
        string calldata metadataURI,
        uint256 amount
    ) external;

    /// @notice Rotate the caller's encryption key or ack signer, or change its endpoint or
    ///         metadata URI. Queries already requested keep what they recorded (an Ack signed by
    ///         the old signer still slashes for them).
    function updateNode(
        bytes32 encryptionKey,
        address ackSigner,
        string calldata endpoint,
        string calldata metadataURI
    ) external;

    /// @notice Declare that the caller hosts (`hosted`) or no longer hosts the given parts
    ///         (0-based) of model `modelId`. Only a registered node, for itself. The model
    ///         registry is not consulted: hosting a part that does not exist assigns nothing.
    function setParts(uint256 modelId, uint256[] calldata parts, bool hosted) external;

    /// @notice Whether `node` declared that it hosts part `part` of model `modelId`.
    function hostsPart(address node, uint256 modelId, uint256 part) external view returns (bool);

    /// @notice What the market records for an assignment, in one call: whether `node` is eligible,
    ///         whether it hosts the part, and its current encryption key and ack signer.
    function assignmentTerms(
        address node,
        uint256 modelId,
        uint256 part
    ) external view returns (bool eligible, bool hosts, bytes32 encryptionKey, address ackSigner);

    /// @notice Add `amount` to the caller's stake (not while unbonding).
    function stake(uint256 amount) external;

    /// @notice Start unbonding the caller's whole stake; the node stops being eligible at once.
    /// @dev Queries already assigned to the node may still be submitted; a missed one is slashed
    ///      from the unbonding stake.
    function requestUnstake() external;

    /// @notice Withdraw the caller's unbonded stake once `unbondingPeriod()` has passed.
    function withdraw() external;

    /// @notice Take up to `amount` from `node`'s stake (active or unbonding) and send it to the
    ///         slash recipient. Only authorised slashers (the query market).
    /// @return slashed The amount actually taken: min(amount, stake).
    function slash(address node, uint256 amount, bytes32 reason) external returns (uint256 slashed);

    /// @notice Allow or disallow `slasher` to call `slash`. Owner only. Takes effect at once
    ///         until the first node registers; afterwards it is only proposed, and anyone applies
    ///         it (`applySlasherChange`) one unbonding period later.
    function setSlasher(address slasher, bool allowed) external;

    /// @notice Apply a proposed slasher change whose delay has passed. Anyone may call it.
    function applySlasherChange(address slasher) external;

    /// @notice A proposed slasher change (executableAt 0: none).
    function pendingSlasherChange(address slasher) external view returns (bool allowed, uint64 executableAt);

    /// @notice A proposed change of a slasher.
    struct PendingSlasher {
        bool allowed;
        uint64 executableAt;
    }

    /// @notice Set where slashed stake goes (treasury or a reward pool). Owner only.
    function setSlashRecipient(address recipient) external;

    /// @notice Set the minimum stake for eligibility, in [1, MAX_MIN_STAKE]. Owner only.
    function setMinStake(uint256 minStake) external;

    /// @notice Whether `node` may be assigned shares now.
    function isEligible(address node) external view returns (bool);

    /// @notice Eligible nodes among the registered nodes [offset, offset + limit), in
    ///         registration order. Page through with `nodeCount()`.
    function getEligibleNodes(uint256 offset, uint256 limit) external view returns (address[] memory);

    /// @notice A node's record (all zero for an unknown address).
    function getNode(address node) external view returns (Node memory);

    /// @notice The number of registered nodes.
    function nodeCount() external view returns (uint256);

    /// @notice The registered node at `index` (registration order).
    function nodeAt(uint256 index) external view returns (address);

    /// @notice Whether `account` may slash.
    function isSlasher(address account) external view returns (bool);

    /// @notice Where slashed stake goes.
    function slashRecipient() external view returns (address);

    /// @notice The minimum stake for eligibility.
    function minStake() external view returns (uint256);

    /// @notice How long unbonding stake stays locked (and slashable). Fixed at deployment.
    function unbondingPeriod() external view returns (uint64);

    /// @notice The staking token.
    function stakingToken() external view returns (address);
}
