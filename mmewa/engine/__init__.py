from .hooks import EWAHook, ReplicaSyncHook, find_expert_layers, unsynced_parameters

__all__ = ['EWAHook', 'ReplicaSyncHook', 'find_expert_layers', 'unsynced_parameters']
