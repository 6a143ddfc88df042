"""``lvd2m validate``: is a dataset what its card says and what LVD-2M promises?"""
