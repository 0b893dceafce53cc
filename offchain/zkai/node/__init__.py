"""The node service: chain listener, Celery workers that decrypt, compute, prove and submit."""
