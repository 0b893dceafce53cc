"""The user's side: paying for private queries from a wallet and reading the answers."""
