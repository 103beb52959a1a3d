import { describe, expect, test, vi } from 'vitest';
import { foldLabAlias } from './lab-option.ts';

describe('--lab and its old name --rig', () => {
  test('--rig is folded into --lab with one warning per process; --lab alone says nothing', () => {
    const write = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
    try {
      expect(foldLabAlias({ lab: 'a.yaml', out: 'x' })).toEqual({ lab: 'a.yaml', out: 'x' });
      expect(write).not.toHaveBeenCalled();
      expect(foldLabAlias({ rig: 'b.yaml', out: 'x' })).toEqual({ lab: 'b.yaml', out: 'x' });
      expect(foldLabAlias({ rig: 'b.yaml', lab: 'b.yaml' })).toEqual({ lab: 'b.yaml' });
      expect(write).toHaveBeenCalledTimes(1);
      expect(String(write.mock.calls[0]![0])).toBe(
        'bx-hil: warning: --rig is now --lab (the lab file of devices); --rig still works for now\n',
      );
    } finally {
      write.mockRestore();
    }
  });

  test('--lab and --rig naming different files is bad input naming --rig', () => {
    expect(() => foldLabAlias({ lab: 'a.yaml', rig: 'b.yaml' })).toThrow(
      expect.objectContaining({ code: 'BXHIL_CONFIG', field: '--rig' }),
    );
  });
});
