from .ewa_hook import EWAHook, find_expert_layers
from .replica_sync_hook import ReplicaSyncHook, unsynced_parameters

__all__ = ['EWAHook', 'ReplicaSyncHook', 'find_expert_layers', 'unsynced_parameters']
