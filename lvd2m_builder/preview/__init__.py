"""``lvd2m preview``: a self-contained HTML report of a dataset that a person can scan in a browser.

``report`` runs it: ``rows`` reads the rows as ``load_dataset`` streams them, ``thumbs`` makes each clip's contact
sheet with the build's frame sampler, and ``page`` renders one HTML file that filters, sorts and pages the clips.
"""
