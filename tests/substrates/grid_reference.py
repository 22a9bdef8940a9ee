"""Independent references for the gel tests: the gel's grid as a plain resistor network."""

import numpy as np
from scipy import sparse


def grid_laplacian(grid_shape, face_conductance):
    """Weighted graph Laplacian of a (ny, nx) cell grid, every face conducting alike.

    Parameters
    ----------
    grid_shape : (ny, nx)
    face_conductance : float, S

    Returns
    -------
    scipy.sparse matrix (ny nx, ny nx), S: row-major cells, each row summing to 0.
    """
    ny, nx = grid_shape
    ids = np.arange(nx * ny).reshape(ny, nx)
    a = np.concatenate([ids[:, :-1].ravel(), ids[:-1, :].ravel()])
    b = np.concatenate([ids[:, 1:].ravel(), ids[1:, :].ravel()])
    lap = sparse.coo_matrix((np.full(a.size, face_conductance), (a, b)), shape=(nx * ny,) * 2)
    lap = lap + lap.T
    return sparse.diags(np.asarray(lap.sum(axis=1)).ravel()) - lap
