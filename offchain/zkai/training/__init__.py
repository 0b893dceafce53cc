"""Encrypted training: CKKS-encrypted updates, summed by workers, decrypted only as a sum.

- `zkai.training.he`: CKKS parameters, `KeyHolder`, `encrypt_update`, `EncryptedSum`.
- `zkai.training.local`: a contributor's clipped, weighted update of the current model.
- `zkai.training.store`: a round's state in Redis.
- `zkai.training.aggregate`: the checks on a submission and the Celery aggregation tasks.
- `zkai.training.rounds`: a round from opening to the new model version and its reward tree.
"""
