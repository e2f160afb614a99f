"""Where a sync's prices come from: genai-prices data (the installed package's, or a data file's),
the catalogue file, or a provider's flat price per token; and what each says one model costs.

Prices are copied into the database (`ProviderModel.price_data` and the price columns) by
`sync_providers` / `sync_prices`, so nothing is fetched at run time and every worker prices with
the same data.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from genai_prices import __version__ as GENAI_PRICES_VERSION
from genai_prices import types as genai_types
from genai_prices.data_snapshot import DataSnapshot, get_snapshot

from providers.adapters.protocols import protocol_for
from providers.price_classes import PRICE_COLUMNS, SOURCE_CATALOGUE, SOURCE_ENV, SOURCE_GENAI
from providers.price_data import list_prices, model_price_data, provider_raw, providers_from_raw

PER_MILLION = Decimal(1_000_000)
# Our provider names -> genai-prices provider ids, where they differ; then the protocol's own
# (`Protocol.prices_provider`, as each adapter package declares it).
GENAI_PRICES_PROVIDER_IDS = {"google": "google", "gemini": "google"}


@dataclass
class PriceSource:
    """A set of genai-prices provider data: the installed package's, or a data file's."""

    label: str
    providers: list[genai_types.Provider]
    path: str = ""
    sha256: str = ""
    _snapshot: DataSnapshot | None = field(default=None, repr=False)

    @property
    def snapshot(self) -> DataSnapshot:
        if self._snapshot is None:
            self._snapshot = DataSnapshot(providers=self.providers, from_auto_update=False)
        return self._snapshot

    def find(self, *, provider_name: str, kind: str, model_name: str) -> genai_types.ModelInfo | None:
        """The model's genai-prices entry under the provider's id (or its protocol's), or None."""
        ids = [GENAI_PRICES_PROVIDER_IDS.get(provider_name, provider_name)]
        protocol = protocol_for(kind)
        if protocol is not None and protocol.prices_provider and protocol.prices_provider not in ids:
            ids.append(protocol.prices_provider)
        for provider_id in ids:
            try:
                _provider, info = self.snapshot.find_provider_model(model_name, None, provider_id, None)
            except LookupError:
                continue
            return info
        return None

    def raw(self) -> list[dict[str, Any]]:
        """The providers in genai-prices' JSON data format (prices and model matching only)."""
        return [provider_raw(p) for p in self.providers]


def installed_source() -> PriceSource:
    """The data bundled with the installed genai-prices package (never fetched)."""
    return PriceSource(
        label=f"genai-prices {GENAI_PRICES_VERSION} (installed package)",
        providers=get_snapshot().providers,
    )


def source_from_raw(raw: list[dict[str, Any]], *, label: str, sha256: str = "") -> PriceSource:
    """Provider data in genai-prices' JSON format (its published `data.json`)."""
    if not isinstance(raw, list) or not all(isinstance(p, dict) for p in raw):
        raise ValueError("expected a JSON list of providers (genai-prices' data.json format)")
    return PriceSource(label=label, providers=providers_from_raw(raw), sha256=sha256)


def source_from_path(path: str | Path) -> PriceSource:
    """genai-prices data from a file: its published `data.json`, a package's `data.py`, an unpacked
    genai-prices package (a directory holding `data.py`), or a wheel (`genai_prices-*.whl`)."""
    path = Path(path)
    if path.is_dir():
        for candidate in (path / "data.py", path / "genai_prices" / "data.py", path / "data.json"):
            if candidate.is_file():
                return _source_from_file(candidate, label_path=path)
        raise ValueError(f"{path}: no genai-prices data.py or data.json in this directory")
    if not path.is_file():
        raise ValueError(f"{path}: no such file")
    return _source_from_file(path, label_path=path)


def _source_from_file(path: Path, *, label_path: Path) -> PriceSource:
    content = path.read_bytes()
    if path.suffix == ".whl":
        with zipfile.ZipFile(path) as wheel:
            try:
                content = wheel.read("genai_prices/data.py")
            except KeyError:
                raise ValueError(f"{path}: not a genai-prices wheel (no genai_prices/data.py)") from None
        kind = "py"
    elif path.suffix == ".py":
        kind = "py"
    else:
        kind = "json"
    sha = hashlib.sha256(content).hexdigest()
    label = f"{label_path.name} (sha256 {sha[:12]})"
    if kind == "json":
        try:
            raw = json.loads(content)
        except ValueError as exc:
            raise ValueError(f"{path}: not JSON: {exc}") from exc
        source = source_from_raw(raw, label=label, sha256=sha)
    else:
        source = PriceSource(label=label, providers=_providers_from_module(content, path), sha256=sha)
    source.path = str(label_path)
    return source


def _providers_from_module(content: bytes, path: Path) -> list[genai_types.Provider]:
    """Run a genai-prices `data.py` (plain constructors of the package's own types) against the
    installed package's types."""
    namespace: dict[str, Any] = {"__name__": "genai_prices._external_data", "__package__": "genai_prices"}
    try:
        exec(compile(content, str(path), "exec"), namespace)  # noqa: S102 - an operator's own file
    except Exception as exc:
        raise ValueError(f"{path}: cannot load genai-prices data: {exc}") from exc
    providers = namespace.get("providers")
    if not isinstance(providers, list) or not all(isinstance(p, genai_types.Provider) for p in providers):
        raise ValueError(f"{path}: defines no genai-prices `providers` list")
    return providers


# ------------------------------------------------------------------- what a sync writes for a model


@dataclass(frozen=True)
class ModelPrices:
    """What a sync writes for one model: the column values, where they came from, and the
    genai-prices model (if any)."""

    columns: dict[str, Decimal | None]
    source: str
    price_data: dict[str, Any]
    context_window: int | None = None

    @property
    def input_per_1m(self) -> Decimal:
        return self.columns["input_price_per_1m"] or Decimal("0")

    @property
    def output_per_1m(self) -> Decimal:
        return self.columns["output_price_per_1m"] or Decimal("0")


def default_model_prices(
    *, provider_name: str, model_name: str, kind: str = "", source: PriceSource | None = None,
    at: dt.datetime | None = None, input_only: bool = False,
) -> ModelPrices | None:
    """The price source's entry for a model (the installed package by default), or None when it
    does not know the model. `input_only`: a model that bills input only (embeddings), whose
    missing output price is 0."""
    source = source or installed_source()
    info = source.find(provider_name=provider_name, kind=kind, model_name=model_name)
    if info is None:
        return None
    columns = list_prices(info, at=at or dt.datetime.now(dt.UTC))
    if input_only and columns["input_price_per_1m"] is not None and columns["output_price_per_1m"] is None:
        columns["output_price_per_1m"] = Decimal("0")
    if columns["input_price_per_1m"] is None or columns["output_price_per_1m"] is None:
        return None
    return ModelPrices(
        columns=columns,
        source=SOURCE_GENAI,
        price_data=model_price_data(info, source=source.label),
        context_window=info.context_window,
    )


def prices_from_cost_per_token(cost_per_token: Decimal) -> ModelPrices:
    """A provider's flat USD per token (`<PROVIDER>_COST_PER_TOKEN`) as input and output prices."""
    per_1m = cost_per_token * PER_MILLION
    columns: dict[str, Decimal | None] = dict.fromkeys(PRICE_COLUMNS)
    columns.update(input_price_per_1m=per_1m, output_price_per_1m=per_1m)
    return ModelPrices(columns=columns, source=SOURCE_ENV, price_data={})


def prices_from_catalogue(spec: Mapping[str, Any]) -> ModelPrices:
    """Prices written for a model in the catalogue file (USD per million tokens)."""
    columns: dict[str, Decimal | None] = dict.fromkeys(PRICE_COLUMNS)
    for column in PRICE_COLUMNS:
        if spec.get(column) is not None:
            columns[column] = Decimal(str(spec[column]))
    return ModelPrices(columns=columns, source=SOURCE_CATALOGUE, price_data={})

