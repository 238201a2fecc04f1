"""The quantity catalogue: canonical names, units, valid ranges (from ``decoders``)."""

from __future__ import annotations

import math

from fastapi import APIRouter

from api.deps import ReadAccess
from api.errors import error_responses
from api.schemas import QuantitiesPublic, QuantityPublic
from decoders.quantities import CATALOGUE, QuantityInfo

router = APIRouter(prefix="/quantities", tags=["quantities"])


def quantity_public(info: QuantityInfo) -> QuantityPublic:
    return QuantityPublic(
        name=str(info.name),
        unit=info.unit,
        senml_unit=info.senml_unit,
        senml_scale=info.senml_scale,
        min=info.min if math.isfinite(info.min) else None,
        max=info.max if math.isfinite(info.max) else None,
        kind=info.kind,
        label_en=info.label_en,
        label_de=info.label_de,
        grafana_unit=info.grafana_unit,
    )


@router.get(
    "",
    response_model=QuantitiesPublic,
    operation_id="list_quantities",
    dependencies=[ReadAccess],  # READ_ACCESS=key: a key for every read (#11)
    responses=error_responses(401),
)
def list_quantities() -> QuantitiesPublic:
    """Every canonical quantity with its one unit. Stores hold values in these units."""
    data = [quantity_public(i) for i in CATALOGUE.values()]
    return QuantitiesPublic(data=data, count=len(data))
