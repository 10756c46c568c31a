# kubernetes/utils/quantity.py: the parser's parameter is unannotated in the client.
from decimal import Decimal

def parse_quantity(quantity: str | int | float) -> Decimal: ...
