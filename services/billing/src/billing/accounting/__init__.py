"""The accounting hand-off: issued invoices and credit notes mapped onto Xero and
QuickBooks Online request bodies (`maps.py` the configurable maps, `xero.py` and
`qbo.py` the pure mappings, `documents.py` ids and JSON text, `consumers.py` the
consumer group that publishes them on `msp.finance.accounting.v1`)."""
