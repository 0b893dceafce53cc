"""The inference node of protocol version 2 (PROTOCOL.md "Version 2", steps 2, 4 and 5).

- `rounds` + `endpoint`: POST /v2/rounds, every check a-f before anything is signed.
- `store`: the node-local durable SQLite store of rounds, openings, T_i, O_i and commitments.
- `claims` + `tasks` + `listener`: one proof per assignment, claimed before t_P (Celery, locked).
- `capacity`: the prover-queue model of check (f). `parts`: servable parts, checked on-chain.
- `keys`, `operator`, `cli`, `service`: keys per generation, registration, `zkai node ...`.
"""
