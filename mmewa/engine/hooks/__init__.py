from .ewa_hook import EWAHook, find_expert_layers
from .moe_aux_loss_hook import MoEAuxLossHook, find_routed_layers
from .replica_sync_hook import ReplicaSyncHook, unsynced_parameters

__all__ = ['EWAHook', 'MoEAuxLossHook', 'ReplicaSyncHook', 'find_expert_layers', 'find_routed_layers',
           'unsynced_parameters']
