return await Rayfleet.Cli.CliApp.RunMainAsync(args);
