"""Getting GRID: safe archive downloads (archives), GRID's Zenodo record (zenodo,
grid_archive), the LipNet tutorial's archives (tutorial), and split protocols."""
