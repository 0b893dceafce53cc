"""`zkai up` / `zkai down` / `zkai status`: a whole local network on this machine."""
