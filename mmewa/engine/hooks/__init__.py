from .ewa_hook import EWAHook, find_expert_layers

__all__ = ['EWAHook', 'find_expert_layers']
