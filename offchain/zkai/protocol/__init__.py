"""Protocol version 2: the pieces every party computes the same way.

- `ids`: query ids and assignment tags, exactly as `QueryMarket` computes them.
- `messages`: the EIP-712 `Round` (signed by a query's session key) and `Ack` (signed by a node's
  ack signer) messages.
- `payload`: the sealed plaintext of one round and how the user deals a round among k nodes.

The round commitments and the T / O transcript chains are in `zkai.crypto.transcript`, below the
circuits that prove them. docs/DESIGN.md ("Version 2") describes the protocol as built.
"""
