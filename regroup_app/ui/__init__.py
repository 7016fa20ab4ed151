"""What the pages draw with: widgets (:mod:`.widgets`), link-synced widgets (:mod:`.synced`) and
shareable links (:mod:`.links`), Plotly figures (:mod:`.plots`), HTML reports (:mod:`.report`), the
glossary (:mod:`.glossary`), result lines in words (:mod:`.verdicts`), a link's attack (:mod:`.reproduce`)
and the page guard (:mod:`.guard`). Imports the services, the state and ``regroup_core``, never a page."""
