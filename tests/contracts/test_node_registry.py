"""NodeRegistry v2: registration (keys, ack signer, endpoint), hosted parts, staking, unbonding,
withdrawal, slashing, eligibility views."""

from __future__ import annotations

import ape
import pytest

from tests.contracts.conftest import MIN_STAKE, UNBONDING_PERIOD, warp_to

ZERO_ADDRESS = "0x" + "00" * 20
KEY = b"\x07" * 32
SIGNER = "0x00000000000000000000000000000000000A11cE"
ENDPOINT = "https://node.example"


@pytest.fixture
def newcomer(token, node_registry, owner, stranger):
    """An unregistered account holding tokens and having approved the registry."""
    token.transfer(stranger, 5 * MIN_STAKE, sender=owner)
    token.approve(node_registry, 2**256 - 1, sender=stranger)
    return stranger


@pytest.fixture
def slasher(node_registry, owner, accounts):
    account = accounts[8]
    node_registry.setSlasher(account, True, sender=owner)
    return account


def test_register_records_key_uri_and_stake(node_registry, token, newcomer):
    receipt = node_registry.register(
        KEY, SIGNER, ENDPOINT, "ipfs://meta", MIN_STAKE, sender=newcomer
    )
    [registered] = receipt.events.filter(node_registry.NodeRegistered)
    assert (registered.node, bytes(registered.encryptionKey), registered.metadataURI) == (
        newcomer.address,
        KEY,
        "ipfs://meta",
    )
    [staked] = receipt.events.filter(node_registry.Staked)
    assert (staked.amount, staked.totalStake) == (MIN_STAKE, MIN_STAKE)
    record = node_registry.getNode(newcomer)
    assert (bytes(record.encryptionKey), record.stake, record.unlockTime, record.registered) == (
        KEY,
        MIN_STAKE,
        0,
        True,
    )
    assert record.metadataURI == "ipfs://meta"
    assert token.balanceOf(node_registry) >= MIN_STAKE
    assert node_registry.isEligible(newcomer)
    assert node_registry.nodeAt(node_registry.nodeCount() - 1) == newcomer.address


def test_register_without_stake_is_not_eligible(node_registry, newcomer):
    receipt = node_registry.register(KEY, SIGNER, ENDPOINT, "", 0, sender=newcomer)
    assert not receipt.events.filter(node_registry.Staked)
    assert not node_registry.isEligible(newcomer)


def test_register_twice_reverts(node_registry, newcomer):
    node_registry.register(KEY, SIGNER, ENDPOINT, "", 0, sender=newcomer)
    with ape.reverts(node_registry.NodeAlreadyRegistered, node=newcomer.address):
        node_registry.register(KEY, SIGNER, ENDPOINT, "", 0, sender=newcomer)


def test_register_zero_key_reverts(node_registry, newcomer):
    with ape.reverts(node_registry.EncryptionKeyZero, node=newcomer.address):
        node_registry.register(b"\x00" * 32, SIGNER, ENDPOINT, "", 0, sender=newcomer)


def test_updateNode_changes_key_and_uri(node_registry, nodes):
    receipt = node_registry.updateNode(KEY, SIGNER, ENDPOINT, "https://new", sender=nodes[0])
    assert receipt.events.filter(node_registry.NodeUpdated)[0].metadataURI == "https://new"
    assert bytes(node_registry.getNode(nodes[0]).encryptionKey) == KEY


def test_updateNode_unregistered_reverts(node_registry, stranger):
    with ape.reverts(node_registry.NodeNotRegistered, node=stranger.address):
        node_registry.updateNode(KEY, SIGNER, ENDPOINT, "", sender=stranger)


def test_updateNode_zero_key_reverts(node_registry, nodes):
    with ape.reverts(node_registry.EncryptionKeyZero, node=nodes[0].address):
        node_registry.updateNode(b"\x00" * 32, SIGNER, ENDPOINT, "", sender=nodes[0])


def test_stake_tops_up(node_registry, nodes):
    receipt = node_registry.stake(5, sender=nodes[0])
    assert receipt.events.filter(node_registry.Staked)[0].totalStake == 2 * MIN_STAKE + 5


def test_stake_below_minimum_then_top_up_becomes_eligible(node_registry, newcomer):
    node_registry.register(KEY, SIGNER, ENDPOINT, "", MIN_STAKE - 1, sender=newcomer)
    assert not node_registry.isEligible(newcomer)
    node_registry.stake(1, sender=newcomer)
    assert node_registry.isEligible(newcomer)


def test_stake_zero_reverts(node_registry, nodes):
    with ape.reverts(node_registry.StakeAmountZero, node=nodes[0].address):
        node_registry.stake(0, sender=nodes[0])


def test_stake_unregistered_reverts(node_registry, stranger):
    with ape.reverts(node_registry.NodeNotRegistered, node=stranger.address):
        node_registry.stake(1, sender=stranger)


def test_stake_while_unbonding_reverts(node_registry, nodes):
    node_registry.requestUnstake(sender=nodes[0])
    unlock = node_registry.getNode(nodes[0]).unlockTime
    with ape.reverts(node_registry.NodeUnbonding, node=nodes[0].address, unlockTime=unlock):
        node_registry.stake(1, sender=nodes[0])


def test_requestUnstake_starts_unbonding_and_ends_eligibility(node_registry, nodes, chain):
    receipt = node_registry.requestUnstake(sender=nodes[0])
    [event] = receipt.events.filter(node_registry.UnstakeRequested)
    block_time = chain.blocks[receipt.block_number].timestamp
    assert (event.amount, event.unlockTime) == (2 * MIN_STAKE, block_time + UNBONDING_PERIOD)
    assert not node_registry.isEligible(nodes[0])


def test_requestUnstake_twice_reverts(node_registry, nodes):
    node_registry.requestUnstake(sender=nodes[0])
    with ape.reverts(node_registry.NodeUnbonding, node=nodes[0].address):
        node_registry.requestUnstake(sender=nodes[0])


def test_requestUnstake_nothing_staked_reverts(node_registry, newcomer):
    node_registry.register(KEY, SIGNER, ENDPOINT, "", 0, sender=newcomer)
    with ape.reverts(node_registry.NothingStaked, node=newcomer.address):
        node_registry.requestUnstake(sender=newcomer)


def test_requestUnstake_unregistered_reverts(node_registry, stranger):
    with ape.reverts(node_registry.NodeNotRegistered, node=stranger.address):
        node_registry.requestUnstake(sender=stranger)


def test_withdraw_after_unbonding_returns_stake(node_registry, token, nodes, chain):
    node_registry.requestUnstake(sender=nodes[0])
    unlock = node_registry.getNode(nodes[0]).unlockTime
    warp_to(chain, unlock)
    before = token.balanceOf(nodes[0])
    receipt = node_registry.withdraw(sender=nodes[0])
    assert receipt.events.filter(node_registry.Withdrawn)[0].amount == 2 * MIN_STAKE
    assert token.balanceOf(nodes[0]) == before + 2 * MIN_STAKE
    record = node_registry.getNode(nodes[0])
    assert (record.stake, record.unlockTime, record.registered) == (0, 0, True)
    node_registry.stake(MIN_STAKE, sender=nodes[0])
    assert node_registry.isEligible(nodes[0])


def test_withdraw_before_unlock_reverts(node_registry, nodes):
    node_registry.requestUnstake(sender=nodes[0])
    unlock = node_registry.getNode(nodes[0]).unlockTime
    with ape.reverts(node_registry.UnbondingNotFinished, node=nodes[0].address, unlockTime=unlock):
        node_registry.withdraw(sender=nodes[0])


def test_withdraw_not_unbonding_reverts(node_registry, nodes):
    with ape.reverts(node_registry.NodeNotUnbonding, node=nodes[0].address):
        node_registry.withdraw(sender=nodes[0])


def test_withdraw_unregistered_reverts(node_registry, stranger):
    with ape.reverts(node_registry.NodeNotRegistered, node=stranger.address):
        node_registry.withdraw(sender=stranger)


def test_slash_takes_stake_to_recipient(node_registry, token, nodes, slasher, treasury):
    before = token.balanceOf(treasury)
    receipt = node_registry.slash(nodes[0], 300, b"\x01" * 32, sender=slasher)
    [event] = receipt.events.filter(node_registry.Slashed)
    assert (event.node, event.slasher, bytes(event.reason)) == (
        nodes[0].address,
        slasher.address,
        b"\x01" * 32,
    )
    assert (event.requested, event.slashed, event.recipient) == (300, 300, treasury.address)
    assert token.balanceOf(treasury) == before + 300
    assert node_registry.getNode(nodes[0]).stake == 2 * MIN_STAKE - 300


def test_slash_more_than_stake_takes_all(node_registry, nodes, slasher):
    receipt = node_registry.slash(nodes[0], 10 * MIN_STAKE, b"\x00" * 32, sender=slasher)
    assert receipt.events.filter(node_registry.Slashed)[0].slashed == 2 * MIN_STAKE
    assert not node_registry.isEligible(nodes[0])


def test_slash_below_minimum_ends_eligibility(node_registry, nodes, slasher):
    node_registry.slash(nodes[0], MIN_STAKE + 1, b"\x00" * 32, sender=slasher)
    assert not node_registry.isEligible(nodes[0])


def test_slash_unbonding_stake(node_registry, nodes, slasher):
    node_registry.requestUnstake(sender=nodes[0])
    node_registry.slash(nodes[0], 10, b"\x00" * 32, sender=slasher)
    assert node_registry.getNode(nodes[0]).stake == 2 * MIN_STAKE - 10


def test_slash_not_slasher_reverts(node_registry, nodes, stranger):
    with ape.reverts(node_registry.NotSlasher, caller=stranger.address):
        node_registry.slash(nodes[0], 1, b"\x00" * 32, sender=stranger)


def test_slash_unregistered_reverts(node_registry, slasher, stranger):
    with ape.reverts(node_registry.NodeNotRegistered, node=stranger.address):
        node_registry.slash(stranger, 1, b"\x00" * 32, sender=slasher)


def test_setSlasher_allows_and_disallows(node_registry, owner, stranger):
    receipt = node_registry.setSlasher(stranger, True, sender=owner)
    assert receipt.events.filter(node_registry.SlasherSet)[0].allowed
    assert node_registry.isSlasher(stranger)
    node_registry.setSlasher(stranger, False, sender=owner)
    assert not node_registry.isSlasher(stranger)


def test_setSlasher_zero_reverts(node_registry, owner):
    with ape.reverts(node_registry.InvalidSlasher, slasher=ape.utils.ZERO_ADDRESS):
        node_registry.setSlasher(ape.utils.ZERO_ADDRESS, True, sender=owner)


def test_setSlasher_not_owner_reverts(node_registry, stranger):
    with ape.reverts(node_registry.OwnableUnauthorizedAccount, account=stranger.address):
        node_registry.setSlasher(stranger, True, sender=stranger)


def test_setSlashRecipient_updates(node_registry, owner, stranger):
    receipt = node_registry.setSlashRecipient(stranger, sender=owner)
    assert receipt.events.filter(node_registry.SlashRecipientSet)[0].recipient == stranger.address
    assert node_registry.slashRecipient() == stranger.address


def test_setSlashRecipient_zero_reverts(node_registry, owner):
    with ape.reverts(node_registry.InvalidSlashRecipient, recipient=ape.utils.ZERO_ADDRESS):
        node_registry.setSlashRecipient(ape.utils.ZERO_ADDRESS, sender=owner)


def test_setMinStake_changes_eligibility(node_registry, owner, nodes):
    receipt = node_registry.setMinStake(3 * MIN_STAKE, sender=owner)
    assert receipt.events.filter(node_registry.MinStakeSet)[0].minStake == 3 * MIN_STAKE
    assert not node_registry.isEligible(nodes[0])


@pytest.mark.parametrize("value", [0, 10**25 + 1])
def test_setMinStake_out_of_bounds_reverts(node_registry, owner, value):
    with ape.reverts(node_registry.MinStakeOutOfBounds, minStake=value, maxAllowed=10**25):
        node_registry.setMinStake(value, sender=owner)


def test_getEligibleNodes_pages_and_filters(node_registry, nodes):
    node_registry.requestUnstake(sender=nodes[1])
    assert node_registry.getEligibleNodes(0, 10) == [nodes[0].address, nodes[2].address]
    assert node_registry.getEligibleNodes(1, 1) == []
    assert node_registry.getEligibleNodes(2, 5) == [nodes[2].address]
    assert node_registry.getEligibleNodes(3, 5) == []
    assert node_registry.nodeCount() == 3


def test_constructor_parameters(node_registry, token, treasury):
    assert node_registry.stakingToken() == token.address
    assert node_registry.minStake() == MIN_STAKE
    assert node_registry.unbondingPeriod() == UNBONDING_PERIOD
    assert node_registry.slashRecipient() == treasury.address


def test_constructor_unbonding_out_of_bounds_reverts(project, owner, token, treasury):
    with ape.reverts(project.NodeRegistry.UnbondingPeriodOutOfBounds, period=60):
        project.NodeRegistry.deploy(owner, token, MIN_STAKE, 60, treasury, sender=owner)


def test_constructor_token_without_code_reverts(project, owner, stranger, treasury):
    with ape.reverts(project.NodeRegistry.NodeRegistryInvalidToken, token=stranger.address):
        project.NodeRegistry.deploy(
            owner, stranger, MIN_STAKE, UNBONDING_PERIOD, treasury, sender=owner
        )


def test_register_records_ack_signer_and_endpoint(node_registry, newcomer):
    receipt = node_registry.register(KEY, SIGNER, ENDPOINT, "ipfs://m", 0, sender=newcomer)
    [event] = receipt.events.filter(node_registry.NodeRegistered)
    assert (event.ackSigner, event.endpoint) == (SIGNER, ENDPOINT)
    record = node_registry.getNode(newcomer)
    assert (record.ackSigner, record.endpoint) == (SIGNER, ENDPOINT)


def test_register_zero_ack_signer_reverts(node_registry, newcomer):
    with ape.reverts(node_registry.AckSignerZero, node=newcomer.address):
        node_registry.register(KEY, ZERO_ADDRESS, ENDPOINT, "", 0, sender=newcomer)


@pytest.mark.parametrize("length", [0, 257])
def test_register_endpoint_length_invalid_reverts(node_registry, newcomer, length):
    with ape.reverts(node_registry.EndpointLengthInvalid, length=length, maxLength=256):
        node_registry.register(KEY, SIGNER, "h" * length, "", 0, sender=newcomer)


def test_register_endpoint_of_256_bytes_accepted(node_registry, newcomer):
    node_registry.register(KEY, SIGNER, "h" * 256, "", 0, sender=newcomer)
    assert node_registry.getNode(newcomer).endpoint == "h" * 256


def test_updateNode_rotates_keys_and_emits(node_registry, nodes):
    new_key, new_signer = b"\x09" * 32, "0x00000000000000000000000000000000000B0b00"
    receipt = node_registry.updateNode(new_key, new_signer, "https://b", "m", sender=nodes[0])
    [event] = receipt.events.filter(node_registry.NodeUpdated)
    assert (bytes(event.encryptionKey), event.ackSigner, event.endpoint) == (
        new_key,
        new_signer,
        "https://b",
    )
    record = node_registry.getNode(nodes[0])
    assert (bytes(record.encryptionKey), record.ackSigner) == (new_key, new_signer)


def test_updateNode_zero_ack_signer_reverts(node_registry, nodes):
    with ape.reverts(node_registry.AckSignerZero):
        node_registry.updateNode(KEY, ZERO_ADDRESS, ENDPOINT, "", sender=nodes[0])


def test_setParts_hosts_and_unhosts(node_registry, nodes):
    receipt = node_registry.setParts(77, [0, 2], True, sender=nodes[0])
    events = receipt.events.filter(node_registry.PartHosted)
    assert [(e.node, e.modelId, e.part, e.hosted) for e in events] == [
        (nodes[0].address, 77, 0, True),
        (nodes[0].address, 77, 2, True),
    ]
    assert node_registry.hostsPart(nodes[0], 77, 0)
    assert node_registry.hostsPart(nodes[0], 77, 2)
    assert not node_registry.hostsPart(nodes[0], 77, 1)
    assert not node_registry.hostsPart(nodes[1], 77, 0)
    node_registry.setParts(77, [2], False, sender=nodes[0])
    assert not node_registry.hostsPart(nodes[0], 77, 2)
    assert node_registry.hostsPart(nodes[0], 77, 0)


def test_setParts_unregistered_reverts(node_registry, stranger):
    with ape.reverts(node_registry.NodeNotRegistered, node=stranger.address):
        node_registry.setParts(1, [0], True, sender=stranger)


def test_setParts_empty_reverts(node_registry, nodes):
    with ape.reverts(node_registry.NoParts):
        node_registry.setParts(1, [], True, sender=nodes[0])


def test_assignmentTerms_reads_eligibility_hosting_and_keys(node_registry, nodes):
    node_registry.setParts(5, [1], True, sender=nodes[1])
    eligible, hosts, key, signer = node_registry.assignmentTerms(nodes[1], 5, 1)
    record = node_registry.getNode(nodes[1])
    assert (eligible, hosts, bytes(key), signer) == (
        True,
        True,
        bytes(record.encryptionKey),
        record.ackSigner,
    )
    assert node_registry.assignmentTerms(nodes[1], 5, 0)[1] is False
