# benchmark sources (relative to bench/)
