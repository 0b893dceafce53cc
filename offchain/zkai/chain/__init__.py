"""Chain access for services and the CLI: one web3 client, deployments, contract errors."""
