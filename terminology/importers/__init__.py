"""Importers: vendor files (AMA CPT, CMS HCPCS Level II, PPRRVU PC/TC) to CodeSystem content files."""
