"""Pub/sub, as ``pubsub.c`` (Redis 7.0) runs it: SUBSCRIBE, UNSUBSCRIBE, PSUBSCRIBE, PUNSUBSCRIBE, PUBLISH, PUBSUB.

Messages are pushed to the subscriber's node over the network the moment
PUBLISH runs, as RESP2 arrays (``[b"message", channel, data]``,
``[b"pmessage", pattern, channel, data]``, ``[b"subscribe", channel, count]``
...).  Pushes to one connection arrive in the order they were sent, as on a
TCP connection (a push never overtakes the one before it); one lost on the
way (a loss coin, a cut) is gone, which is pub/sub's at-most-once delivery.
A connection receives pushes when it has a ``push(message)`` method (the
client's :class:`~simcache.sim.redis.client.PubSub` does).  When the server
process dies, each subscriber whose host is still reachable gets a
``ConnectionError`` pushed, as a TCP reset.
"""

from __future__ import annotations

from typing import Any

from simcache.sim.redis.core import ClientState, RedisCore, redis_command
from simcache.sim.redis.proto import stringmatch
from simcache.sim.rpc import ConnectionError, ReplyError
from simcache.sim.server import size_of


class PubSubCommands(RedisCore):
    """The pub/sub command group."""

    def push(self, st: ClientState, msg: Any) -> None:
        """Send a push message to the connection ``st`` (in order after the ones sent before it)."""
        deliver = getattr(st.conn, "push", None)
        if deliver is None or not st.node:
            return
        net = self.world.network
        a, b = self.node, st.node
        size = sum(size_of(x) for x in msg) if isinstance(msg, list) else 0
        d = net.transit(a, b, size)
        if d is None:
            return  # lost at once: no route, or the loss coin
        now = self.env.now
        due = max(now + d, st.push_due)  # never before the push sent ahead of it
        st.push_due = due
        net.deliver_later(a, b, due - now, net.epoch, net.route(a, b), deliver, msg)

    # --------------------------------------------------------- subscribing
    def subscribe_channel(self, st: ClientState, ch: bytes) -> None:
        """``pubsubSubscribeChannel``."""
        if ch not in st.channels:
            st.channels[ch] = None
            self.pubsub_channels.setdefault(ch, {})[st] = None
        self.push(st, [b"subscribe", ch, st.subscriptions])

    def unsubscribe_channel(self, st: ClientState, ch: bytes, notify: bool) -> int:
        """``pubsubUnsubscribeChannel``."""
        found = 0
        if ch in st.channels:
            del st.channels[ch]
            subs = self.pubsub_channels.get(ch)
            if subs is not None:
                subs.pop(st, None)
                if not subs:
                    del self.pubsub_channels[ch]
            found = 1
        if notify:
            self.push(st, [b"unsubscribe", ch, st.subscriptions])
        return found

    def subscribe_pattern(self, st: ClientState, pat: bytes) -> None:
        """``pubsubSubscribePattern``."""
        if pat not in st.patterns:
            st.patterns[pat] = None
            self.pubsub_patterns.setdefault(pat, {})[st] = None
        self.push(st, [b"psubscribe", pat, st.subscriptions])

    def unsubscribe_pattern(self, st: ClientState, pat: bytes, notify: bool) -> int:
        """``pubsubUnsubscribePattern``."""
        found = 0
        if pat in st.patterns:
            del st.patterns[pat]
            subs = self.pubsub_patterns.get(pat)
            if subs is not None:
                subs.pop(st, None)
                if not subs:
                    del self.pubsub_patterns[pat]
            found = 1
        if notify:
            self.push(st, [b"punsubscribe", pat, st.subscriptions])
        return found

    def unsubscribe_all(self, st: ClientState, notify: bool) -> int:
        """``pubsubUnsubscribeAllChannels`` + ``...AllPatterns``."""
        n = sum(self.unsubscribe_channel(st, ch, notify) for ch in list(st.channels))
        if notify and n == 0:
            self.push(st, [b"unsubscribe", None, st.subscriptions])
        m = sum(self.unsubscribe_pattern(st, p, notify) for p in list(st.patterns))
        if notify and m == 0:
            self.push(st, [b"punsubscribe", None, st.subscriptions])
        return n + m

    @redis_command("SUBSCRIBE", -2, "pubsub noscript loading stale")
    def _subscribe(self, *channels: Any) -> None:
        st = self.client_state()
        for ch in channels:
            self.subscribe_channel(st, ch)

    @redis_command("UNSUBSCRIBE", -1, "pubsub noscript loading stale")
    def _unsubscribe(self, *channels: Any) -> None:
        st = self.client_state()
        if not channels:
            n = sum(self.unsubscribe_channel(st, ch, True) for ch in list(st.channels))
            if n == 0:
                self.push(st, [b"unsubscribe", None, st.subscriptions])
        for ch in channels:
            self.unsubscribe_channel(st, ch, True)

    @redis_command("PSUBSCRIBE", -2, "pubsub noscript loading stale")
    def _psubscribe(self, *patterns: Any) -> None:
        st = self.client_state()
        for p in patterns:
            self.subscribe_pattern(st, p)

    @redis_command("PUNSUBSCRIBE", -1, "pubsub noscript loading stale")
    def _punsubscribe(self, *patterns: Any) -> None:
        st = self.client_state()
        if not patterns:
            n = sum(self.unsubscribe_pattern(st, p, True) for p in list(st.patterns))
            if n == 0:
                self.push(st, [b"punsubscribe", None, st.subscriptions])
        for p in patterns:
            self.unsubscribe_pattern(st, p, True)

    # ----------------------------------------------------------- publishing
    @redis_command("PUBLISH", 3, "pubsub loading stale fast may_replicate")
    def _publish(self, channel: Any, message: Any) -> int:
        receivers = 0
        for st in list(self.pubsub_channels.get(channel, ())):
            self.push(st, [b"message", channel, message])
            receivers += 1
        for pat, subs in list(self.pubsub_patterns.items()):
            if not stringmatch(pat, bytes(channel)):
                continue
            for st in list(subs):
                self.push(st, [b"pmessage", pat, channel, message])
                receivers += 1
        return receivers

    @redis_command("PUBSUB|CHANNELS", -2, "pubsub loading stale")
    def _pubsub_channels(self, *pattern: Any) -> list[bytes]:
        if len(pattern) > 1:
            raise_arity("pubsub|channels")
        return [ch for ch in self.pubsub_channels if not pattern or stringmatch(pattern[0], ch)]

    @redis_command("PUBSUB|NUMSUB", -2, "pubsub loading stale")
    def _pubsub_numsub(self, *channels: Any) -> list[Any]:
        out: list[Any] = []
        for ch in channels:
            out += [ch, len(self.pubsub_channels.get(ch, ()))]
        return out

    @redis_command("PUBSUB|NUMPAT", 2, "pubsub loading stale")
    def _pubsub_numpat(self) -> int:
        return len(self.pubsub_patterns)

    def on_crash(self) -> None:
        subscribers = [st for st in self.clients.values() if st.subscriptions]
        super().on_crash()
        if self.host_up:
            for st in subscribers:
                self.push(st, ConnectionError("Connection reset by peer"))


def raise_arity(name: str) -> None:
    """An arity error for ``name`` (for commands whose arity depends on their arguments)."""
    raise ReplyError(f"ERR wrong number of arguments for '{name}' command")
