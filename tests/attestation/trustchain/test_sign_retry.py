"""The one retry timer behind all proposals waiting for their agreement (:class:`SignRetryTimer`)."""
from __future__ import annotations

from ipv8.attestation.trustchain import TrustChainError
from ipv8.attestation.trustchain.community import DROP_TC_NOT_SIGNED
from ipv8.attestation.trustchain.settings import TrustChainSettings

from .test_community import TrustChainTestCase

INTERVAL = TrustChainSettings.sign_retry_interval


class TestSignRetryTimer(TrustChainTestCase):
    """Proposals to a node without listener: every send is refused and counted there."""

    def refused(self) -> int:
        return self.overlay(1).drop_counts[DROP_TC_NOT_SIGNED]

    async def test_each_proposal_retried_at_its_own_deadline(self) -> None:
        first = self.overlay(0).sign_block(self.peer(1), block_type=b"test", transaction={"n": 1})
        await self.deliver_messages()
        self.clock.advance(INTERVAL / 2)
        second = self.overlay(0).sign_block(self.peer(1), block_type=b"test", transaction={"n": 2})
        await self.deliver_messages()
        self.assertEqual(self.refused(), 2)
        # The first deadline: only the first proposal goes out again.
        self.clock.advance(INTERVAL / 2)
        await self.deliver_messages()
        self.assertEqual(self.refused(), 3)
        # The second deadline, half an interval later.
        self.clock.advance(INTERVAL / 2)
        await self.deliver_messages()
        self.assertEqual(self.refused(), 4)
        # The first proposal gives up six intervals after it was sent, the second half an interval later.
        for _ in range(2 * TrustChainSettings.sign_attempts):
            self.clock.advance(INTERVAL / 2)
            await self.deliver_messages()
        self.assertTrue(first.called and second.called)
        for signed in (first, second):
            with self.assertRaises(TrustChainError):
                await signed
        self.assertEqual(self.refused(), 2 * TrustChainSettings.sign_attempts)
        # Nothing waits any more, so the timer is not set again.
        self.assertIsNone(self.overlay(0).sign_retry_timer._call)  # noqa: SLF001

    async def test_answered_proposal_is_not_resent(self) -> None:
        self.listen(1)
        proposal, agreement = await self.sign(0, 1)
        self.assertEqual(agreement.link_sequence_number, proposal.sequence_number)
        sent = self.overlay(1).get_chain_length()
        self.clock.advance(INTERVAL)
        await self.deliver_messages()
        # The timer fired with nothing due and stays off; no proposal went out again.
        self.assertIsNone(self.overlay(0).sign_retry_timer._call)  # noqa: SLF001
        self.assertEqual(self.overlay(1).get_chain_length(), sent)
        self.assertEqual(self.refused(), 0)

    async def test_unload_stops_the_timer(self) -> None:
        signed = self.overlay(0).sign_block(self.peer(1), block_type=b"test", transaction={"n": 1})
        await self.deliver_messages()
        timer = self.overlay(0).sign_retry_timer
        self.assertTrue(timer._call.active())  # noqa: SLF001
        await self.overlay(0).unload()
        self.assertIsNone(timer._call)  # noqa: SLF001
        with self.assertRaises(TrustChainError):
            await signed
