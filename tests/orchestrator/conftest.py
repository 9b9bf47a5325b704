"""Objectives of these tests travel to Ray workers by value, whatever their sys.path."""

import cloudpickle
import objectives

cloudpickle.register_pickle_by_value(objectives)
