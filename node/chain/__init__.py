"""The department's own copy of the channel's blocks (区块存档): checked link by link as its
peer delivers them, read by exports instead of asking the peer block by block."""

from node.chain.archive import BlockArchive, BlockRefused
from node.chain.follower import BlockSource, ChainFollower, follow_chain

__all__ = ["BlockArchive", "BlockRefused", "BlockSource", "ChainFollower", "follow_chain"]
