"""Diffusion samplers over one noise schedule (diffusers' schedulers are the model): a
:class:`~models.samplers.schedule.NoiseSchedule`, then DDPM or DDIM ``step()`` per timestep,
each draw from an explicit generator; RePaint's resampling schedule for inpainting."""
