"""Folium map pages, offline: every asset from /static, the basemap URL a setting (see base.py)."""
