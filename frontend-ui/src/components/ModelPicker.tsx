// The model this tab's camera is classified with: the models the hub serves
// (its welcome, read afresh when the list opens), each at its latest version
// and, where it serves several, each version. The choice is kept for the tab.
import type { HTMLAttributes } from 'react';
import FormControl from '@mui/material/FormControl';
import FormHelperText from '@mui/material/FormHelperText';
import InputLabel from '@mui/material/InputLabel';
import ListItemText from '@mui/material/ListItemText';
import MenuItem from '@mui/material/MenuItem';
import Select from '@mui/material/Select';
import { shallowEqual, useHubActions, useHubSelector } from '../lib/hubContext';
import type { HubSnapshot } from '../lib/hubStore';
import { modelChoices, modelDetails, modelTitle, selectedChoice, type ModelChoice } from '../lib/models';

const selectPicker = (s: HubSnapshot) => ({
  models: s.models,
  chosen: s.chosenModel,
  session: s.model,
  connected: s.connection === 'connected',
});

/** "latest (v2)" or "v1". */
function versionText(c: ModelChoice): string {
  return c.version === null ? `latest (v${c.model.defaultVersion})` : `v${c.version}`;
}

/** The closed picker: "MobileNetV2 (ImageNet) (mobilenet_v2) · latest (v1)". */
function choiceText(c: ModelChoice): string {
  return `${modelTitle(c.model)} · ${versionText(c)}`;
}

export const NO_MODEL_TEXT = 'No model is being served: start a worker with a model.';

export function ModelPicker() {
  const { models, chosen, session, connected } = useHubSelector(selectPicker, shallowEqual);
  const { setModel, refreshModels } = useHubActions();
  const choices = modelChoices(models);
  const value = selectedChoice(chosen, session, models);
  const byRef = new Map(choices.map((c) => [c.ref, c]));
  const none = connected && choices.length === 0;

  return (
    <FormControl size="small" fullWidth disabled={!connected || choices.length === 0} data-testid="model-picker-control">
      <InputLabel id="model-picker-label">Model</InputLabel>
      <Select
        labelId="model-picker-label"
        label="Model"
        value={value}
        onOpen={() => void refreshModels()}
        onChange={(e) => {
          const ref = String(e.target.value);
          if (ref && ref !== value) setModel(ref);
        }}
        renderValue={(ref) => {
          const c = byRef.get(ref);
          return c ? choiceText(c) : '';
        }}
        // The element with role combobox (what a person and the browser tests click).
        SelectDisplayProps={{ 'data-testid': 'model-picker' } as HTMLAttributes<HTMLDivElement>}
        aria-describedby={none ? 'model-picker-help' : undefined}
        MenuProps={{ slotProps: { paper: { sx: { maxWidth: 520 } } } }}
        sx={{ '& .MuiSelect-select': { overflow: 'hidden', textOverflow: 'ellipsis' } }}
      >
        {choices.map((c) => (
          <MenuItem
            key={c.ref}
            value={c.ref}
            data-testid={`model-option-${c.ref}`}
            sx={{ whiteSpace: 'normal', alignItems: 'flex-start', pl: c.version === null ? 2 : 4 }}
          >
            {c.version === null ? (
              <ListItemText
                primary={`${modelTitle(c.model)} — ${versionText(c)}`}
                secondary={modelDetails(c.model)}
                slotProps={{ primary: { sx: { fontWeight: 500 } }, secondary: { sx: { overflowWrap: 'anywhere' } } }}
              />
            ) : (
              <ListItemText primary={`${c.model.name}@${c.version}`} secondary={`version ${c.version}`} />
            )}
          </MenuItem>
        ))}
      </Select>
      {none ? (
        <FormHelperText id="model-picker-help" data-testid="model-picker-empty">
          {NO_MODEL_TEXT}
        </FormHelperText>
      ) : null}
    </FormControl>
  );
}
