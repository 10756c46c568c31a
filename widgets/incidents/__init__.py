"""The incident panel, an incident's detail screen and the incidents pane slot."""
