import { useCallback, useEffect, useRef, useState } from 'react';
import Alert from '@mui/material/Alert';
import AlertTitle from '@mui/material/AlertTitle';
import Box from '@mui/material/Box';
import Button from '@mui/material/Button';
import LinearProgress from '@mui/material/LinearProgress';
import Stack from '@mui/material/Stack';
import Typography from '@mui/material/Typography';
import ImageRounded from '@mui/icons-material/ImageRounded';
import UploadFileRounded from '@mui/icons-material/UploadFileRounded';
import { AnalyzeError, analyzeImage, fileToBase64 } from '../lib/analyze';
import { errorText, unreachableUploadText } from '../lib/errorText';
import type { ErrorCode, Prediction } from '../lib/contract';
import { useHubSelector } from '../lib/hubContext';
import type { HubSnapshot } from '../lib/hubStore';
import { Predictions } from './Predictions';
import { SectionCard, TwoColumns, fillBox } from './SectionCard';
import { surfaces } from '../theme';

type UploadState =
  | { kind: 'empty' }
  | { kind: 'busy'; name: string }
  /** model: the reference it was sent with; null: the hub's default. */
  | { kind: 'done'; name: string; predictions: Prediction[]; model: string | null }
  /** code null: the hub did not answer. */
  | { kind: 'error'; name: string; code: ErrorCode | null };

/** A photo goes to the model the tab chose, else to the session's (the watched session's for a watcher). */
const selectUploadModel = (s: HubSnapshot) => s.chosenModel ?? s.model;

export function UploadCard() {
  const [state, setState] = useState<UploadState>({ kind: 'empty' });
  const uploadModel = useHubSelector(selectUploadModel);
  // Read when a file is chosen, so a model switch does not re-create the handlers.
  const uploadModelRef = useRef<string | null>(uploadModel);
  useEffect(() => {
    uploadModelRef.current = uploadModel;
  }, [uploadModel]);
  const [preview, setPreview] = useState<string | null>(null);
  const [dragging, setDragging] = useState(false);
  const inputRef = useRef<HTMLInputElement | null>(null);
  const abortRef = useRef<AbortController | null>(null);
  // The server-rendered card shows the picker before React listens to it: a
  // file chosen then would be lost, so it stays disabled until hydrated.
  const [hydrated, setHydrated] = useState(false);
  useEffect(() => setHydrated(true), []);

  useEffect(() => () => abortRef.current?.abort(), []);
  useEffect(
    () => () => {
      if (preview) URL.revokeObjectURL(preview);
    },
    [preview],
  );

  const classify = useCallback(async (file: File) => {
    abortRef.current?.abort();
    const ac = new AbortController();
    abortRef.current = ac;
    setPreview(URL.createObjectURL(file));
    setState({ kind: 'busy', name: file.name });
    try {
      const b64 = await fileToBase64(file);
      const model = uploadModelRef.current;
      const predictions = await analyzeImage(b64, { model, signal: ac.signal });
      if (!ac.signal.aborted) setState({ kind: 'done', name: file.name, predictions, model });
    } catch (err) {
      if (ac.signal.aborted) return;
      setState({ kind: 'error', name: file.name, code: err instanceof AnalyzeError ? err.code : null });
    }
  }, []);

  const onFiles = useCallback(
    (files: FileList | null) => {
      const f = files?.[0];
      if (f) void classify(f);
    },
    [classify],
  );

  const errorCopy =
    state.kind !== 'error' ? null : state.code === null ? unreachableUploadText : errorText(state.code, 'upload');

  return (
    <SectionCard
      titleId="upload-title"
      heading={
        <>
          <Typography variant="h2" id="upload-title">
            Classify a photo
          </Typography>
          <Typography variant="body2" color="text.secondary">
            Choose an image file or drop it here; the hub returns its top-3 labels.
          </Typography>
        </>
      }
    >
      <TwoColumns>
        <Box
          onDragOver={(e: React.DragEvent) => {
            e.preventDefault();
            setDragging(true);
          }}
          onDragLeave={() => setDragging(false)}
          onDrop={(e: React.DragEvent) => {
            e.preventDefault();
            setDragging(false);
            onFiles(e.dataTransfer.files);
          }}
          data-testid="upload-dropzone"
          sx={(t) => ({
            position: 'relative',
            minHeight: 220,
            border: '2px dashed',
            borderColor: dragging ? 'primary.main' : 'divider',
            bgcolor: dragging ? surfaces.light.tintStrong : surfaces.light.well,
            borderRadius: 2,
            display: 'flex',
            alignItems: 'center',
            justifyContent: 'center',
            overflow: 'hidden',
            transition: 'border-color 150ms, background-color 150ms',
            ...t.applyStyles('dark', { bgcolor: dragging ? surfaces.dark.tintStrong : surfaces.dark.well }),
          })}
        >
          {preview ? (
            <Box
              component="img"
              src={preview}
              alt={state.kind === 'empty' ? '' : `Uploaded image ${state.name}`}
              sx={{ ...fillBox, opacity: 0.95 }}
            />
          ) : null}
          <Stack
            spacing={1.5}
            sx={{
              alignItems: 'center',
              textAlign: 'center',
              p: 2,
              position: 'relative',
              ...(preview
                ? { alignSelf: 'flex-end', mb: 1.5, bgcolor: 'background.paper', borderRadius: 2, px: 1.5, py: 1 }
                : {}),
            }}
          >
            {preview ? null : <ImageRounded sx={{ fontSize: 40, color: 'text.disabled' }} />}
            {preview ? null : (
              <Typography variant="body2" color="text.secondary">
                Drag and drop an image here, or
              </Typography>
            )}
            {/* A real button (Enter/Space work) that opens the hidden file input. */}
            <Button
              variant={preview ? 'outlined' : 'contained'}
              startIcon={<UploadFileRounded />}
              size={preview ? 'small' : 'medium'}
              onClick={() => inputRef.current?.click()}
              aria-controls="upload-input"
              disabled={!hydrated}
              data-testid="upload-button"
            >
              {preview ? 'Choose another image' : 'Choose image'}
            </Button>
            <input
              ref={inputRef}
              id="upload-input"
              type="file"
              accept="image/*"
              hidden
              aria-label="Image file to classify"
              disabled={!hydrated}
              data-testid="upload-input"
              onChange={(e) => {
                onFiles(e.currentTarget.files);
                e.currentTarget.value = '';
              }}
            />
          </Stack>
        </Box>
        <Box aria-live="polite" aria-busy={state.kind === 'busy'}>
          {state.kind === 'busy' ? (
            <Stack spacing={1.5}>
              <Typography variant="overline" color="text.secondary">
                Classifying {state.name}…
              </Typography>
              <LinearProgress aria-label="Classifying" />
            </Stack>
          ) : null}
          {state.kind === 'error' && errorCopy ? (
            <Alert severity="error" data-testid="upload-error">
              <AlertTitle>{errorCopy.title}</AlertTitle>
              {errorCopy.body}
            </Alert>
          ) : null}
          {state.kind === 'done' ? (
            <Stack spacing={1.5}>
              <Predictions predictions={state.predictions} topTestId="upload-top-label" emptyText="No labels" />
              <Typography variant="caption" color="text.secondary" data-testid="upload-model">
                {state.model ? `Model ${state.model}` : 'The hub’s default model'}
              </Typography>
            </Stack>
          ) : null}
          {state.kind === 'empty' ? (
            <Typography variant="body2" color="text.secondary" sx={{ mt: { md: 1 } }}>
              The top-3 labels appear here.
            </Typography>
          ) : null}
        </Box>
      </TwoColumns>
    </SectionCard>
  );
}
