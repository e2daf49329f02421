from .hooks import (
    EWAHook,
    MoEAuxLossHook,
    ReplicaSyncHook,
    find_expert_layers,
    find_routed_layers,
    unsynced_parameters,
)

__all__ = ['EWAHook', 'MoEAuxLossHook', 'ReplicaSyncHook', 'find_expert_layers', 'find_routed_layers',
           'unsynced_parameters']
