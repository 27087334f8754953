"""Typed, read-only views of Fabric blocks and transactions, parsed from their raw bytes.

A court verifies an evidence package offline from the bytes a peer returned, so each view keeps
the bytes it came from and exposes exactly what Fabric hashes and signs:

* a block header's hash is SHA-256 over ``DER(SEQUENCE{INTEGER number, OCTET STRING
  previous_hash, OCTET STRING data_hash})`` (``protoutil.BlockHeaderBytes``); block ``n + 1``
  links to block ``n`` through ``previous_hash == header_hash(n)``;
* a block's data hash is SHA-256 over the concatenated envelope bytes of ``block.data.data``;
* an orderer signs ``metadata.value || signature_header || BlockHeaderBytes(header)`` (the
  SIGNATURES metadata; BFT consenters may put an identifier header in place of the signature
  header);
* an endorser signs ``proposal_response_payload || endorser``; the client signs the payload.

Every constructor raises :class:`MalformedLedgerData` when the bytes do not parse.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from fabric_protos.common import common_pb2
from fabric_protos.ledger.rwset import rwset_pb2
from fabric_protos.ledger.rwset.kvrwset import kv_rwset_pb2
from fabric_protos.msp import identities_pb2
from fabric_protos.peer import (
    chaincode_pb2,
    proposal_pb2,
    proposal_response_pb2,
    transaction_pb2,
)
from google.protobuf.message import DecodeError

from node.fabric.identity import Identity
from schemas.hashes import Digest, InvalidDigest

_UINT64_MAX = 2**64 - 1
_NOT_VALIDATED = "NOT_VALIDATED"


class MalformedLedgerData(ValueError):
    """The bytes are not a well-formed Fabric block or transaction of the expected shape."""


# --- block header bytes: the DER that Fabric hashes -------------------------------------------


def _der_length(n: int) -> bytes:
    if n < 0x80:
        return bytes([n])
    body = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(body)]) + body


def _der_integer(n: int) -> bytes:
    # Non-negative, minimal two's complement: a leading 0x00 only when the top bit is set.
    body = n.to_bytes(n.bit_length() // 8 + 1, "big")
    return b"\x02" + _der_length(len(body)) + body


def _der_octet_string(value: bytes) -> bytes:
    return b"\x04" + _der_length(len(value)) + value


def block_header_bytes(number: int, previous_hash: bytes, data_hash: bytes) -> bytes:
    """The DER encoding Fabric hashes for a block header (``protoutil.BlockHeaderBytes``).

    Raises:
        ValueError: ``number`` is not an unsigned 64-bit integer.
    """
    if not 0 <= number <= _UINT64_MAX:
        raise ValueError(f"block number {number} is not an unsigned 64-bit integer")
    body = _der_integer(number) + _der_octet_string(previous_hash) + _der_octet_string(data_hash)
    return b"\x30" + _der_length(len(body)) + body


# --- views -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class KVWrite:
    """One key written (or deleted) by a transaction in one namespace."""

    key: str
    value: bytes
    is_delete: bool


@dataclass(frozen=True)
class KVRead:
    """One key a transaction read, with the version it read: the block number and the
    transaction's index in that block of the key's last write (None: the key did not exist).
    A VALID transaction's reads were still current when it committed (MVCC)."""

    key: str
    version: tuple[int, int] | None


@dataclass(frozen=True)
class NamespaceWrites:
    """The writes, and the reads, of one namespace (a chaincode) in a transaction's
    read-write set."""

    namespace: str
    writes: tuple[KVWrite, ...]
    reads: tuple[KVRead, ...] = ()


@dataclass(frozen=True)
class Endorsement:
    """One endorser's signature; it signs :attr:`signed_bytes` (response payload || endorser)."""

    endorser: Identity
    signature: bytes
    signed_bytes: bytes


@dataclass(frozen=True)
class OrdererSignature:
    """One orderer's signature on a block; it signs :attr:`signed_bytes`.

    ``signer`` is ``None`` when a BFT consenter names itself by a numeric identifier only (the
    channel config maps it to an identity).
    """

    signer: Identity | None
    signature: bytes
    signed_bytes: bytes


@dataclass(frozen=True)
class TransactionView:
    """A transaction envelope as recorded on the ledger.

    ``args`` is the chaincode input as invoked, function name first. For a transaction that is
    not an ENDORSER_TRANSACTION (e.g. CONFIG), the chaincode fields are empty and ``data``
    holds the payload's data (a ``ConfigEnvelope`` for CONFIG). ``envelope`` is the raw
    envelope; its ``payload`` is what the creator signed (``signature``).
    """

    tx_id: str
    channel: str
    type: str
    timestamp: dt.datetime | None
    creator: Identity | None
    chaincode: str
    args: tuple[bytes, ...]
    result: bytes
    endorsements: tuple[Endorsement, ...]
    write_sets: tuple[NamespaceWrites, ...]
    validation_code: str
    envelope: bytes = field(repr=False)
    payload: bytes = field(repr=False)
    signature: bytes = field(repr=False)
    data: bytes = field(repr=False)

    @property
    def function(self) -> str:
        """The invoked function (the first argument), or ``""``."""
        return self.args[0].decode(errors="replace") if self.args else ""

    def writes(self, namespace: str) -> tuple[KVWrite, ...]:
        """The keys written in ``namespace`` (empty if it wrote none)."""
        return next((ns.writes for ns in self.write_sets if ns.namespace == namespace), ())

    def reads(self, namespace: str) -> tuple[KVRead, ...]:
        """The keys read in ``namespace`` with their versions (range queries aside)."""
        return next((ns.reads for ns in self.write_sets if ns.namespace == namespace), ())

    @classmethod
    def from_envelope(cls, raw: bytes, validation_code: str = _NOT_VALIDATED) -> TransactionView:
        """Parse an envelope; ``validation_code`` comes from where it was found.

        Raises:
            MalformedLedgerData: the envelope or a part of it does not parse.
        """
        envelope = _parse(common_pb2.Envelope, raw, "envelope")
        payload_bytes = bytes(envelope.payload)
        payload = _parse(common_pb2.Payload, payload_bytes, "payload")
        chdr = _parse(common_pb2.ChannelHeader, payload.header.channel_header, "channel header")
        shdr = _parse(common_pb2.SignatureHeader, payload.header.signature_header, "sig header")
        header_type = _enum_name(common_pb2.HeaderType, chdr.type)
        endorsed = _endorsed_parts(payload.data) if header_type == "ENDORSER_TRANSACTION" else None
        chaincode, args, result, endorsements, write_sets = endorsed or ("", (), b"", (), ())
        return cls(
            tx_id=str(chdr.tx_id),
            channel=str(chdr.channel_id),
            type=header_type,
            timestamp=_time_of(chdr),
            creator=_identity(bytes(shdr.creator)),
            chaincode=chaincode,
            args=args,
            result=result,
            endorsements=endorsements,
            write_sets=write_sets,
            validation_code=validation_code,
            envelope=bytes(raw),
            payload=payload_bytes,
            signature=bytes(envelope.signature),
            data=bytes(payload.data),
        )

    @classmethod
    def from_processed_transaction(cls, raw: bytes) -> TransactionView:
        """Parse a ``ProcessedTransaction`` (what qscc ``GetTransactionByID`` returns).

        Its envelope is a nested message, so :attr:`envelope` is its protobuf re-encoding;
        ``payload`` and ``signature`` are exact.

        Raises:
            MalformedLedgerData: the bytes do not parse.
        """
        processed = _parse(transaction_pb2.ProcessedTransaction, raw, "processed transaction")
        code = _enum_name(transaction_pb2.TxValidationCode, processed.validationCode)
        return cls.from_envelope(bytes(processed.transactionEnvelope.SerializeToString()), code)


@dataclass(frozen=True)
class BlockView:
    """A block as a peer stores it, with the hashes needed to check it and its neighbours.

    ``validation_codes`` are the peer's per-transaction verdicts (TRANSACTIONS_FILTER
    metadata; ``NOT_VALIDATED`` when absent). ``last_config_index`` is read as Fabric's
    ``GetLastConfigIndexFromBlock`` does: from the SIGNATURES metadata's
    ``OrdererBlockMetadata``, or from the older LAST_CONFIG metadata when that value is empty.
    """

    raw: bytes = field(repr=False)
    number: int
    previous_hash: Digest | None
    data_hash: Digest
    computed_data_hash: Digest
    envelopes: tuple[bytes, ...] = field(repr=False)
    signatures: tuple[OrdererSignature, ...]
    last_config_index: int
    validation_codes: tuple[str, ...]

    @classmethod
    def from_bytes(cls, raw: bytes) -> BlockView:
        """Parse a serialized ``common.Block``.

        Raises:
            MalformedLedgerData: the bytes are not a block, or its hashes or metadata are not
                of Fabric's shape.
        """
        block = _parse(common_pb2.Block, raw, "block")
        if not block.HasField("header"):
            raise MalformedLedgerData("block has no header")
        header = block.header
        number = int(header.number)
        envelopes = tuple(bytes(e) for e in block.data.data)
        metadata = [bytes(m) for m in block.metadata.metadata]
        header_bytes = block_header_bytes(number, header.previous_hash, header.data_hash)
        signatures_md = _parse(common_pb2.Metadata, _at(metadata, 0), "SIGNATURES metadata")
        return cls(
            raw=bytes(raw),
            number=number,
            # Only a genesis block has no previous hash.
            previous_hash=_digest(header.previous_hash, "previous hash")
            if header.previous_hash
            else None,
            data_hash=_digest(header.data_hash, "data hash"),
            computed_data_hash=Digest.of(b"".join(envelopes)),
            envelopes=envelopes,
            signatures=_orderer_signatures(signatures_md, header_bytes),
            last_config_index=_last_config_index(signatures_md, _at(metadata, 1)),
            validation_codes=_validation_codes(_at(metadata, 2), len(envelopes)),
        )

    def header_bytes(self) -> bytes:
        """The DER header bytes that Fabric hashes and the orderers sign."""
        previous = self.previous_hash.value if self.previous_hash else b""
        return block_header_bytes(self.number, previous, self.data_hash.value)

    def header_hash(self) -> Digest:
        """The block's hash: the next block's ``previous_hash`` must equal it."""
        return Digest.of(self.header_bytes())

    @property
    def is_config(self) -> bool:
        """Whether this is a config block (a single CONFIG envelope)."""
        return len(self.envelopes) == 1 and self._headers[0].type == common_pb2.CONFIG

    def index_of(self, tx_id: str) -> int | None:
        """The position of the first envelope with ``tx_id`` (unparsable envelopes skipped)."""
        return next((i for i, h in enumerate(self._headers) if h.tx_id == tx_id), None)

    def transaction_at(self, index: int) -> TransactionView:
        """The transaction at ``index`` with the peer's validation code.

        Raises:
            IndexError: no such position. MalformedLedgerData: the envelope does not parse.
        """
        return TransactionView.from_envelope(self.envelopes[index], self.validation_codes[index])

    def transactions(self) -> Iterator[TransactionView]:
        """Each transaction in order (raises MalformedLedgerData at one that does not parse)."""
        return (self.transaction_at(i) for i in range(len(self.envelopes)))

    def signed_payload_at(self, index: int) -> tuple[bytes, bytes, str]:
        """(payload, signature, validation code) of the envelope at ``index``, without parsing
        the transaction inside: what another copy of it must match to be this one.

        Raises:
            IndexError: no such position. MalformedLedgerData: the envelope does not parse.
        """
        envelope = _parse(common_pb2.Envelope, self.envelopes[index], "envelope")
        return bytes(envelope.payload), bytes(envelope.signature), self.validation_codes[index]

    def tx_ids(self) -> tuple[str | None, ...]:
        """The transaction id of each envelope, in order (None where one does not parse)."""
        return tuple(h.tx_id for h in self._headers)

    def latest_time(self) -> dt.datetime | None:
        """The latest channel-header time among its transactions, or None if none carries
        one. Blocks carry no time of their own; the orderers cut and signed this one after
        its transactions were made, so this is the earliest it can have been signed (by the
        clients' clocks, which signed those times)."""
        return max((h.timestamp for h in self._headers if h.timestamp is not None), default=None)

    @functools.cached_property
    def _headers(self) -> tuple[_Header, ...]:
        # Parsed once per block: verifying a package asks for ids and times of every block.
        return tuple(_header_of(e) for e in self.envelopes)

    def processed_transaction(self, index: int) -> bytes:
        """The serialized ``ProcessedTransaction`` of the envelope at ``index``: the envelope
        and this block's validation flag for it. qscc's ``GetTransactionByID`` builds its
        answer the same way from the same stored block, so this is the same proof without
        a round trip per transaction.

        Raises:
            IndexError: no such position. MalformedLedgerData: the envelope does not parse,
                or the block carries no validation flags.
        """
        envelope = _parse(common_pb2.Envelope, self.envelopes[index], "envelope")
        code = self.validation_codes[index]
        if code == _NOT_VALIDATED or code.startswith("UNKNOWN_"):
            raise MalformedLedgerData(f"no known validation flag for transaction {index}")
        processed = transaction_pb2.ProcessedTransaction(
            transactionEnvelope=envelope,
            validationCode=transaction_pb2.TxValidationCode.Value(code),
        )
        return bytes(processed.SerializeToString())


@dataclass(frozen=True)
class ChainProblem:
    """One way a run of blocks fails to form a chain; ``code`` is stable, ``message`` prose."""

    block_number: int
    code: str
    message: str

    def __str__(self) -> str:
        return f"block {self.block_number}: {self.code}: {self.message}"


def verify_chain(blocks: Sequence[BlockView]) -> list[ChainProblem]:
    """Check each block's data hash and the hash links between consecutive blocks.

    Codes: ``DATA_HASH_MISMATCH``, ``NOT_CONSECUTIVE``, ``PREVIOUS_HASH_MISMATCH``,
    ``GENESIS_HAS_PREVIOUS_HASH``. Returns the problems found; an empty list means the run is
    a well-linked chain. Signatures are not checked here.
    """
    problems: list[ChainProblem] = []
    for i, block in enumerate(blocks):
        if block.computed_data_hash != block.data_hash:
            problems.append(
                ChainProblem(
                    block.number,
                    "DATA_HASH_MISMATCH",
                    f"header says {block.data_hash}, envelopes hash to {block.computed_data_hash}",
                )
            )
        if block.number == 0 and block.previous_hash is not None:
            problems.append(
                ChainProblem(0, "GENESIS_HAS_PREVIOUS_HASH", "block 0 names a previous block")
            )
        if i == 0:
            continue
        prior = blocks[i - 1]
        if block.number != prior.number + 1:
            problems.append(
                ChainProblem(
                    block.number, "NOT_CONSECUTIVE", f"follows block {prior.number} in the run"
                )
            )
        elif block.previous_hash != prior.header_hash():
            problems.append(
                ChainProblem(
                    block.number,
                    "PREVIOUS_HASH_MISMATCH",
                    f"previous hash {block.previous_hash} but block {prior.number} hashes to "
                    f"{prior.header_hash()}",
                )
            )
    return problems


# --- parsing helpers ---------------------------------------------------------------------------


def _parse(message_type: Any, raw: bytes, what: str) -> Any:
    try:
        return message_type.FromString(raw)
    except DecodeError as exc:
        raise MalformedLedgerData(f"{what} does not parse") from exc


def _enum_name(enum: Any, value: int) -> str:
    try:
        return str(enum.Name(value))
    except ValueError:
        return f"UNKNOWN_{value}"


def _at(items: list[bytes], index: int) -> bytes:
    return items[index] if index < len(items) else b""


def _digest(value: bytes, what: str) -> Digest:
    try:
        return Digest("sha256", bytes(value))
    except InvalidDigest as exc:
        raise MalformedLedgerData(f"{what} is not a SHA-256 digest") from exc


def _identity(serialized: bytes) -> Identity | None:
    if not serialized:
        return None
    ident = _parse(identities_pb2.SerializedIdentity, serialized, "serialized identity")
    return Identity(str(ident.mspid), bytes(ident.id_bytes))


class _Header(NamedTuple):
    """What an envelope's channel header says, all None where it does not parse."""

    tx_id: str | None
    type: int | None
    timestamp: dt.datetime | None


def _header_of(raw_envelope: bytes) -> _Header:
    try:
        envelope = _parse(common_pb2.Envelope, raw_envelope, "envelope")
        payload = _parse(common_pb2.Payload, envelope.payload, "payload")
        chdr = _parse(common_pb2.ChannelHeader, payload.header.channel_header, "channel header")
    except MalformedLedgerData:
        return _Header(None, None, None)
    try:
        timestamp = _time_of(chdr)
    except MalformedLedgerData:
        timestamp = None  # parsing the whole transaction says so
    return _Header(str(chdr.tx_id), int(chdr.type), timestamp)


def _time_of(chdr: Any) -> dt.datetime | None:
    """A channel header's time, or None if it has none.

    Raises:
        MalformedLedgerData: a time outside years 1–9999 or with invalid nanoseconds.
    """
    if not chdr.HasField("timestamp"):
        return None
    try:
        return chdr.timestamp.ToDatetime(tzinfo=dt.UTC)  # type: ignore[no-any-return]
    except (ValueError, OverflowError) as exc:
        raise MalformedLedgerData(f"channel header time: {exc}") from None


def _endorsed_parts(
    data: bytes,
) -> tuple[str, tuple[bytes, ...], bytes, tuple[Endorsement, ...], tuple[NamespaceWrites, ...]]:
    tx = _parse(transaction_pb2.Transaction, data, "transaction")
    if len(tx.actions) != 1:
        # Fabric's validator accepts exactly one action (msgvalidation.go).
        raise MalformedLedgerData(f"transaction has {len(tx.actions)} actions, expected 1")
    action = _parse(transaction_pb2.ChaincodeActionPayload, tx.actions[0].payload, "action")
    proposal = _parse(
        proposal_pb2.ChaincodeProposalPayload, action.chaincode_proposal_payload, "proposal"
    )
    spec = _parse(chaincode_pb2.ChaincodeInvocationSpec, proposal.input, "invocation spec")
    response_bytes = bytes(action.action.proposal_response_payload)
    response = _parse(
        proposal_response_pb2.ProposalResponsePayload, response_bytes, "response payload"
    )
    cc_action = _parse(proposal_pb2.ChaincodeAction, response.extension, "chaincode action")
    endorsements = []
    for e in action.action.endorsements:
        endorser = _identity(bytes(e.endorser))
        if endorser is None:
            raise MalformedLedgerData("endorsement without an endorser")
        endorsements.append(
            Endorsement(endorser, bytes(e.signature), response_bytes + bytes(e.endorser))
        )
    return (
        str(cc_action.chaincode_id.name),
        tuple(bytes(a) for a in spec.chaincode_spec.input.args),
        bytes(cc_action.response.payload),
        tuple(endorsements),
        _write_sets(bytes(cc_action.results)),
    )


def _write_sets(results: bytes) -> tuple[NamespaceWrites, ...]:
    rwset = _parse(rwset_pb2.TxReadWriteSet, results, "read-write set")
    out = []
    for ns in rwset.ns_rwset:
        kv = _parse(kv_rwset_pb2.KVRWSet, ns.rwset, f"KV read-write set of {ns.namespace}")
        writes = tuple(KVWrite(str(w.key), bytes(w.value), bool(w.is_delete)) for w in kv.writes)
        reads = tuple(
            KVRead(
                str(r.key),
                (int(r.version.block_num), int(r.version.tx_num))
                if r.HasField("version")
                else None,
            )
            for r in kv.reads
        )
        out.append(NamespaceWrites(str(ns.namespace), writes, reads))
    return tuple(out)


def _orderer_signatures(metadata: Any, header_bytes: bytes) -> tuple[OrdererSignature, ...]:
    value = bytes(metadata.value)
    out = []
    for sig in metadata.signatures:
        signature_header = bytes(sig.signature_header)
        signer = None
        if signature_header:
            shdr = _parse(common_pb2.SignatureHeader, signature_header, "block signature header")
            signer = _identity(bytes(shdr.creator))
        # Fabric signs over the identifier header instead when a BFT consenter sends no
        # signature header (protoutil.BlockSignatureVerifier).
        signed_part = signature_header or bytes(sig.identifier_header)
        out.append(
            OrdererSignature(signer, bytes(sig.signature), value + signed_part + header_bytes)
        )
    return tuple(out)


def _last_config_index(signatures: Any, last_config_metadata: bytes) -> int:
    if signatures.value:
        ordered = _parse(common_pb2.OrdererBlockMetadata, signatures.value, "orderer metadata")
        return int(ordered.last_config.index)
    legacy = _parse(common_pb2.Metadata, last_config_metadata, "LAST_CONFIG metadata")
    return int(_parse(common_pb2.LastConfig, legacy.value, "last config").index)


def _validation_codes(flags: bytes, count: int) -> tuple[str, ...]:
    if not flags:
        return (_NOT_VALIDATED,) * count
    if len(flags) != count:
        raise MalformedLedgerData(f"{len(flags)} validation flags for {count} transactions")
    return tuple(_enum_name(transaction_pb2.TxValidationCode, f) for f in flags)
